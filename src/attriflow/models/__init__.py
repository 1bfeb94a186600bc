"""Models: the factory (small nets, torchvision, timm), initial weights, heads and losses, and the
training loop with checkpoints and resume.

    model = create_model("small_densenet", num_classes=14, in_chans=1, init="cxr-multilabel")
    metrics = train_run(spec, "results/models/<run-id>")       # see attriflow.models.spec
    model, info = load_run("results/models/<run-id>")           # eval mode
    feats = stage_outputs(vgg, x)                               # MKD: after max-pools 2..5
"""

from attriflow.models.registry import create_model, initialise, list_models
from attriflow.models.runs import load_run
from attriflow.models.spec import normalise_spec
from attriflow.models.training import evaluate, predict, train_run
from attriflow.models.training_data import Splits
from attriflow.models.vgg import pool_indices, stage_outputs

__all__ = ["Splits", "create_model", "evaluate", "initialise", "list_models", "load_run", "normalise_spec",
           "pool_indices", "predict", "stage_outputs", "train_run"]
