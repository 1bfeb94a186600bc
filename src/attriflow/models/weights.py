"""Initial weights: ImageNet files found locally, weights files, earlier runs; transfer between heads and input channels.

Nothing here downloads: ImageNet weights are looked up in a weights folder, the torch hub cache
and the Hugging Face cache (where timm keeps them); a missing file stops with a message naming
the file and where to put it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn as nn

from attriflow.errors import UserError
from attriflow.utils.io import load_torch

WEIGHTS_ENV = "ATTRIFLOW_WEIGHTS_DIR"
DEFAULT_WEIGHTS_DIR = "weights"
WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")


# --- where the head and the first conv are ---------------------------------------------------------

def head_name(model: nn.Module) -> str | None:
    """Dotted name of the output layer (replaced when a backbone moves to a new task), or None.

    timm models name it through ``get_classifier()``; otherwise it is the last ``nn.Linear``.
    """
    target = model.get_classifier() if hasattr(model, "get_classifier") else None
    last = None
    for name, module in model.named_modules():
        if target is not None and module is target and isinstance(module, (nn.Linear, nn.Conv2d)):
            return name
        if isinstance(module, nn.Linear):
            last = name
    return last


def first_conv_name(model: nn.Module) -> str | None:
    """Dotted name of the first Conv2d (the one whose weights adapt to a different number of input channels)."""
    return next((name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)


def adapt_input_conv(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """First-conv weights (O, I, k, k) for ``in_chans`` inputs, as timm's ``adapt_input_conv``:
    one channel sums over the source channels (exact for a grey image copied to every channel);
    more channels repeat the source ones, scaled by I / in_chans."""
    source = weight.shape[1]
    if in_chans == source:
        return weight
    if in_chans == 1:
        return weight.sum(dim=1, keepdim=True)
    repeat = -(-in_chans // source)
    return weight.repeat(1, repeat, 1, 1)[:, :in_chans] * (source / in_chans)


def set_input_channels(model: nn.Module, in_chans: int) -> nn.Module:
    """Replace the first conv of ``model`` by one with ``in_chans`` inputs, its weights adapted."""
    name = first_conv_name(model)
    if name is None:
        raise UserError(f"{type(model).__name__} has no Conv2d whose input channels could be set to {in_chans}")
    conv: nn.Conv2d = model.get_submodule(name)
    if conv.in_channels == in_chans:
        return model
    if conv.groups != 1:
        raise UserError(f"{type(model).__name__}: first conv {name} is grouped; cannot set in_chans={in_chans}")
    new = nn.Conv2d(in_chans, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                    bias=conv.bias is not None, padding_mode=conv.padding_mode)
    with torch.no_grad():
        new.weight.copy_(adapt_input_conv(conv.weight, in_chans))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, new)
    return model


# --- moving a state dict into a model --------------------------------------------------------------

_DENSENET_OLD_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def normalise_state_dict(obj: Any, source: str) -> dict[str, torch.Tensor]:
    """The tensor dict inside a loaded weights file: a bare state dict, or one under
    ``state_dict`` / ``model`` (our model.pt, common training checkpoints); ``module.`` prefixes
    (DataParallel) and torchvision's old DenseNet key names are undone."""
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model", "model_state"):
            if isinstance(obj.get(key), Mapping) and any(isinstance(v, torch.Tensor) for v in obj[key].values()):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{source}: holds no state dict (a mapping of parameter names to tensors)")
    out = {}
    for key, value in obj.items():
        key = key[len("module."):] if key.startswith("module.") else key
        key = _DENSENET_OLD_KEY.sub(r"\1\2", key)
        out[key] = value
    return out


def transfer_weights(model: nn.Module, state: Mapping[str, torch.Tensor], source: str,
                     reset_head: bool | None = None, headless: bool = False) -> dict[str, list[str]]:
    """Load ``state`` into ``model``: the backbone must match, the head may not.

    The first conv's weights adapt to the model's input channels (sum for grey inputs). The head
    (see :func:`head_name`) keeps its fresh initialisation when ``reset_head`` is True, or when it is
    None and the head's shapes differ (another task or class count). Anything else that is missing,
    extra or of another shape is an architecture mismatch and raises a UserError naming the keys.
    A model without head (``num_classes=0``: ``headless``, or no output layer found) drops the source's
    extra keys instead (e.g. VGG16's ``classifier.6``, while its other classifier layers load). Returns the keys
    ``loaded``, ``adapted``, ``reset`` and ``dropped``.
    """
    own = model.state_dict()
    head = None if headless else head_name(model)
    in_head = (lambda k: k.startswith(head + ".")) if head else (lambda k: False)
    conv = first_conv_name(model)
    conv_key = f"{conv}.weight" if conv else None
    head_differs = any(k in state and state[k].shape != v.shape for k, v in own.items() if in_head(k))
    drop_head = bool(reset_head) or (reset_head is None and head_differs)

    merged, report = {}, {"loaded": [], "adapted": [], "reset": []}
    missing, mismatched = [], []
    for key, value in own.items():
        if in_head(key) and (drop_head or key not in state):
            report["reset"].append(key)
            continue
        if key not in state:
            if not key.endswith("num_batches_tracked"):
                missing.append(key)
            continue
        src = state[key]
        if src.shape == value.shape:
            merged[key] = src
            report["loaded"].append(key)
        elif key == conv_key and src.ndim == 4 and src.shape[0] == value.shape[0] and src.shape[2:] == value.shape[2:]:
            merged[key] = adapt_input_conv(src.float(), value.shape[1]).to(value.dtype)
            report["adapted"].append(key)
        else:
            mismatched.append(f"{key} {tuple(src.shape)} -> {tuple(value.shape)}")
    extra = [k for k in state if k not in own]
    if head is None:  # a model without output layer (num_classes=0) takes a backbone and drops the rest
        report["dropped"], extra = extra, []
    else:
        extra = [k for k in extra if not in_head(k)]
    if missing or mismatched or extra:
        parts = []
        if mismatched:
            parts.append(f"shapes differ: {_few(mismatched)}")
        if missing:
            parts.append(f"missing in the weights: {_few(missing)}")
        if extra:
            parts.append(f"not in the model: {_few(extra)}")
        raise UserError(f"{source}: weights do not fit {type(model).__name__} ({'; '.join(parts)}); "
                        "is this the same architecture (model name and model_kwargs)?")
    model.load_state_dict(merged, strict=False)
    return report


def _few(keys: list[str], n: int = 4) -> str:
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")


def load_weights_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A weights file's state dict (torch files with weights_only=True; .safetensors needs the safetensors package)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ModuleNotFoundError:
            raise UserError(f"{path}: reading .safetensors needs the `safetensors` package (not installed); "
                            "install it or convert the file with torch.save(state_dict, 'weights.pth')") from None
        return normalise_state_dict(load_file(str(path)), str(path))
    try:
        obj = load_torch(path)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    return normalise_state_dict(obj, str(path))


# --- finding ImageNet weights without a network ----------------------------------------------------

def weights_dir(configured: str | os.PathLike | None = None) -> Path:
    """The folder for user-placed weights: the argument, else $ATTRIFLOW_WEIGHTS_DIR, else ./weights."""
    return Path(configured or os.environ.get(WEIGHTS_ENV) or DEFAULT_WEIGHTS_DIR)


def _hf_hub_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    return Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"


def imagenet_sources(source: str, arch: str) -> tuple[list[str], list[Path], str | None]:
    """For a torchvision or timm architecture: the file names its ImageNet weights go by, the
    cache folders that may hold them, and the URL they come from (None if unknown)."""
    names, folders, url = [], [Path(torch.hub.get_dir()) / "checkpoints"], None
    if source == "torchvision":
        import torchvision

        try:
            url = torchvision.models.get_model_weights(arch).DEFAULT.url
        except (ValueError, AttributeError, KeyError):
            url = None
    elif source == "timm":
        import timm.models

        cfg = timm.models.get_pretrained_cfg(arch)
        if cfg is not None:
            url = cfg.url or (f"https://huggingface.co/{cfg.hf_hub_id}" if cfg.hf_hub_id else None)
            if cfg.hf_hub_id:
                repo = _hf_hub_dir() / ("models--" + cfg.hf_hub_id.replace("/", "--")) / "snapshots"
                folders += sorted(repo.glob("*")) if repo.is_dir() else [repo / "<revision>"]
                names += [cfg.hf_hub_filename] if cfg.hf_hub_filename else ["pytorch_model.bin", "model.safetensors"]
    if url and not url.startswith("https://huggingface.co/"):
        names.insert(0, url.rsplit("/", 1)[-1])
    return names, folders, url


def find_imagenet_weights(source: str, arch: str, configured_dir: str | os.PathLike | None = None) -> Path:
    """The local file with ImageNet weights for ``arch``; a UserError says what to place where if none is found."""
    names, caches, url = imagenet_sources(source, arch)
    user_dir = weights_dir(configured_dir)
    candidates = [user_dir / f"{arch}{s}" for s in WEIGHT_SUFFIXES] + [user_dir / n for n in names]
    candidates += [folder / n for folder in caches for n in names]
    for path in candidates:
        if path.is_file():
            return path
    wanted = names[0] if names else f"{arch}.pth"
    origin = f" (from {url})" if url else ""
    raise UserError(
        f"no ImageNet weights for {source} model {arch!r} on this machine, and nothing is downloaded here. "
        f"Place the file {wanted}{origin} in {user_dir.resolve()} (or set ${WEIGHTS_ENV}), "
        f"or save it as {user_dir / (arch + '.pth')}; looked in: {', '.join(sorted({str(p.parent) for p in candidates}))}")


def resolve_init(init: str, runs_dir: str | os.PathLike = "results/models") -> tuple[str, Path | None]:
    """What an ``init`` value means: ``("random", None)``, ``("imagenet", None)``, ``("file", path)``
    or ``("run", path to the run's model.pt)``; anything else is a UserError naming what was tried."""
    if init in ("random", "imagenet"):
        return init, None
    path = Path(init)
    if path.suffix in WEIGHT_SUFFIXES or path.is_file():
        if not path.is_file():
            raise UserError(f"init {init!r}: weights file not found")
        return "file", path
    run_model = Path(runs_dir) / init / "model.pt"
    if run_model.is_file():
        return "run", run_model
    raise UserError(f"init {init!r} is neither random, imagenet, a weights file ({', '.join(WEIGHT_SUFFIXES)}) "
                    f"nor a finished run ({run_model} does not exist; train that run first)")
