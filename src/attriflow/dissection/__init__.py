"""Network dissection of any layer (unit thresholds, upsampled masks, IoU with concepts, labels)
and semantic attribution (a prediction explained by the concepts of its labelled units).

    from attriflow.dissection import dissect
    units = dissect(model, layer="features.relu5", data=probe, concepts=names, quantile=0.995,
                    iou_threshold=0.04, batch_size=64)   # DataFrame: unit, concept, iou, threshold
"""

from attriflow.dissection.concepts import boxes_to_masks, concept_masks
from attriflow.dissection.engine import Dissection, dissect, dissect_layer, label_units
from attriflow.dissection.reference import dissect_reference
from attriflow.dissection.semantic import (
    SemanticAttribution, concept_contributions, semantic_attribution, unit_contributions,
)
from attriflow.dissection.upsample import Upsampler, linear_matrix

__all__ = [
    "Dissection", "SemanticAttribution", "Upsampler", "boxes_to_masks", "concept_contributions", "concept_masks",
    "dissect", "dissect_layer", "dissect_reference", "label_units", "linear_matrix", "semantic_attribution",
    "unit_contributions",
]
