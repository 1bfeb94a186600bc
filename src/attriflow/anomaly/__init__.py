"""MKD (Salehi et al. CVPR 2021): multiresolution knowledge distillation for anomaly detection.

A frozen expert (VGG16 layout) and a smaller cloner trained on normal images only to reproduce
the expert's max-pool stage outputs; the distillation loss of a test image is its anomaly score,
and the gradient of that loss with respect to the input localises the anomaly.

- :mod:`~attriflow.anomaly.loss`: L_val + lambda L_dir per image, taps, where lambda goes.
- :mod:`~attriflow.anomaly.expert`: the frozen expert (a run of ours or torchvision weights).
- :mod:`~attriflow.anomaly.cloner`: training the cloner on cached expert outputs.
- :mod:`~attriflow.anomaly.scoring`: anomaly scores, AUROC, the kNN (DN2) baseline.
- :mod:`~attriflow.anomaly.localisation`: loss-gradient maps, blur, opening, pixel AUROC.
- :mod:`~attriflow.anomaly.experiment`: one-class problems end to end (the workflow's step).
"""

from attriflow.anomaly.loss import DistillationLoss, LossSpec
from attriflow.anomaly.expert import freeze, load_expert
from attriflow.anomaly.cloner import train_cloner
from attriflow.anomaly.scoring import anomaly_scores, auroc, knn_scores
from attriflow.anomaly.localisation import localise, pixel_auroc, postprocess

__all__ = [
    "DistillationLoss", "LossSpec", "freeze", "load_expert", "train_cloner", "anomaly_scores", "auroc",
    "knn_scores", "localise", "pixel_auroc", "postprocess",
]
