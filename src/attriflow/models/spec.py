"""The training spec: every setting of one run, checked and completed with defaults.

A spec is a plain dict (the JSON ``attriflow train --spec`` reads, the config's ``runs`` entry
plus ``train_defaults``). :func:`normalise_spec` rejects unknown keys and bad values with a
UserError naming the key, and fills in the defaults, so the stored ``config.yaml`` shows every
setting the run used.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from attriflow.data.imageset import TASKS
from attriflow.errors import UserError

DEFAULTS: dict[str, Any] = {
    "model": None,            # a name from `attriflow models` (required)
    "model_kwargs": {},       # extra arguments of the architecture, e.g. {"width": 0.25}
    "init": "random",         # random | imagenet | a weights file | the id of an earlier run
    "dataset": None,          # a dataset view, or a list of views merged into one multi-class task (required)
    "data_root": "data",      # folder of the datasets
    "limit": None,            # use only N training images per view (see attriflow.data.load_dataset)
    "image_size": None,       # resize images to this side length
    "task": None,             # multiclass | multilabel | regression | zones | binary; default: the dataset's
    "loss": {},               # task loss options, e.g. {"pos_weight": 3.17} or {"weighted": true}
    "optimizer": "adam",      # adam | sgd
    "lr": 1e-3,
    "weight_decay": 0.0,
    "momentum": 0.9,          # sgd only
    "schedule": "none",       # none | cosine | step (per epoch)
    "step_size": None,        # step schedule: epochs between decays (default: a third of the epochs)
    "gamma": 0.1,             # step schedule: decay factor
    "epochs": 5,              # 0: no training, the initial weights are the model (a pretrained network as published)
    "batch_size": 64,
    "seed": 0,
    "num_workers": 0,         # DataLoader worker processes decoding streamed (real) datasets
    "pin_memory": True,       # page-locked batches for fast, non-blocking copies to a GPU (CUDA only)
    "prefetch_factor": 2,     # batches each worker decodes ahead
    "device": "auto",         # auto | cpu | cuda (auto and cuda fall back to the CPU without a GPU)
    "amp": "fp16",            # mixed precision: fp16 (CUDA only) | bf16 (CUDA and CPU) | off; true = fp16, false = off
    "val_fraction": 0.1,      # held out of train when a view has no val split
    "scale": None,            # smoke | demo | paper: recorded only
}
REQUIRED = ("model", "dataset")
AMP = ("off", "fp16", "bf16")
CHOICES = {"optimizer": ("adam", "sgd"), "schedule": ("none", "cosine", "step"), "device": ("auto", "cpu", "cuda"),
           "task": (None,) + TASKS}
POSITIVE_INT = ("batch_size", "prefetch_factor")
OPTIONAL_POSITIVE_INT = ("limit", "image_size", "step_size")
NON_NEGATIVE_INT = ("epochs", "seed", "num_workers")
NON_NEGATIVE_FLOAT = ("weight_decay", "momentum")


def normalise_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with defaults filled in, checked key by key; a UserError names the first bad key."""
    if not isinstance(spec, dict):
        raise UserError(f"a training spec is a JSON object, got {type(spec).__name__}")
    unknown = sorted(set(spec) - set(DEFAULTS))
    if unknown:
        raise UserError(f"unknown spec keys {unknown}; valid keys: {', '.join(DEFAULTS)}")
    out = {k: (json.loads(json.dumps(v)) if isinstance(v, (dict, list)) else v) for k, v in DEFAULTS.items()}
    out.update(spec)
    for key in REQUIRED:
        if not out[key]:
            raise UserError(f"spec key {key!r} is required")
    if not isinstance(out["model"], str):
        raise UserError(f"spec key 'model' must be a name, got {out['model']!r}")
    datasets = out["dataset"] if isinstance(out["dataset"], list) else [out["dataset"]]
    if not datasets or not all(isinstance(d, str) and d for d in datasets):
        raise UserError(f"spec key 'dataset' must be a view name or a list of them, got {out['dataset']!r}")
    for key in ("model_kwargs", "loss"):
        if not isinstance(out[key], dict):
            raise UserError(f"spec key {key!r} must be a mapping, got {out[key]!r}")
    if not isinstance(out["init"], str) or not out["init"]:
        raise UserError(f"spec key 'init' must be random, imagenet, a weights file or a run id, got {out['init']!r}")
    for key, valid in CHOICES.items():
        if out[key] not in valid:
            raise UserError(f"spec key {key!r}: {out[key]!r} is not one of {', '.join(map(str, valid))}")
    for key in POSITIVE_INT + OPTIONAL_POSITIVE_INT + NON_NEGATIVE_INT:
        value = out[key]
        if value is None and key in OPTIONAL_POSITIVE_INT:
            continue
        minimum = 0 if key in NON_NEGATIVE_INT else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise UserError(f"spec key {key!r} must be a whole number >= {minimum}, got {value!r}")
    for key in ("lr", "gamma") + NON_NEGATIVE_FLOAT:
        value = out[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (value >= 0 if key in NON_NEGATIVE_FLOAT else value > 0)
        if not ok:
            raise UserError(f"spec key {key!r} must be a {'non-negative' if key in NON_NEGATIVE_FLOAT else 'positive'} number, got {value!r}")
        out[key] = float(value)
    if isinstance(out["amp"], bool):  # the older true / false form
        out["amp"] = "fp16" if out["amp"] else "off"
    if out["amp"] not in AMP:
        raise UserError(f"spec key 'amp': {out['amp']!r} is not one of {', '.join(AMP)}")
    if not isinstance(out["pin_memory"], bool):
        raise UserError(f"spec key 'pin_memory' must be true or false, got {out['pin_memory']!r}")
    if out["epochs"] == 0 and out["init"] == "random":
        raise UserError("spec key 'epochs' is 0 (use the initial weights as they are) but 'init' is random: "
                        "set init to imagenet, a weights file or a run id, or epochs to 1 or more")
    if not (isinstance(out["val_fraction"], (int, float)) and 0 < out["val_fraction"] < 1):
        raise UserError(f"spec key 'val_fraction' must be between 0 and 1, got {out['val_fraction']!r}")
    return out


# Keys that do not change what a run computes (where, how fast, or labels): a checkpoint written
# under other values of these still resumes.
NOT_RESULT_KEYS = ("device", "num_workers", "pin_memory", "prefetch_factor", "scale", "data_root")


def spec_hash(spec: dict[str, Any]) -> str:
    """Fingerprint of the settings that decide a run's weights (a checkpoint resumes only under the same one)."""
    core = {k: v for k, v in spec.items() if k not in NOT_RESULT_KEYS}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:16]
