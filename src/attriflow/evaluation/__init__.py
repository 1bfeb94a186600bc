"""Evaluations of attribution maps, batched and at their compute floor.

- :func:`randomisation_test`: cascading / independent model parameter randomisation (Adebayo et al.)
  with SSIM, Spearman (signed and absolute) and HOG similarity; stages from :func:`randomisation_stages`.
- :func:`class_sensitivity`: predicted-class map vs lowest-scoring and random class maps.
- :func:`pixel_perturbation`: LeRF / MoRF pixel removal, relative change of the target probability.
- :func:`remove_top`, :func:`roar_point`: ROAR's removal and one retrained point.
- :func:`localisation`: pointing game and relevance mass inside ground-truth masks.

Evaluations that need maps of a changed model or another class take explainers,
``explain(model, x, target) -> (N, H, W)`` (e.g. :func:`method_explainer`), and reuse the trained
model's stored maps when given (``original_maps``, ``predicted_maps``); the others take maps.
Every result is a long-format pandas DataFrame, one row per image and setting.
"""

from attriflow.evaluation.batching import Explainer
from attriflow.evaluation.class_sensitivity import class_sensitivity, other_classes, random_other_class
from attriflow.evaluation.explainers import method_explainer
from attriflow.evaluation.localisation import localisation, pointing_game, relevance_mass
from attriflow.evaluation.masking import fill_colour, remove_top, removal_ranks, removed_count
from attriflow.evaluation.perturbation import (
    DEFAULT_FRACTIONS, perturbation_probabilities, perturbation_summary, pixel_perturbation,
)
from attriflow.evaluation.randomisation import randomisation_test, stage_names
from attriflow.evaluation.roar import FRACTIONS as ROAR_FRACTIONS
from attriflow.evaluation.roar import random_maps, roar_point, roar_sets
from attriflow.evaluation.similarity import MEASURES, hog_features, similarity, spearman, ssim
from attriflow.evaluation.stages import Stage, randomisation_stages

__all__ = [
    "DEFAULT_FRACTIONS", "MEASURES", "ROAR_FRACTIONS", "class_sensitivity", "Explainer", "fill_colour",
    "hog_features", "localisation", "method_explainer", "other_classes", "perturbation_probabilities",
    "perturbation_summary", "pixel_perturbation", "pointing_game", "random_maps", "random_other_class",
    "randomisation_stages", "randomisation_test", "relevance_mass", "removal_ranks", "remove_top", "removed_count",
    "roar_point", "roar_sets", "similarity", "spearman", "ssim", "Stage", "stage_names",
]
