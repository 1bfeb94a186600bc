"""The stages of a cascading parameter randomisation: a model's parameterised blocks, top to bottom,
and the ways to re-draw a stage's weights.

``blocks`` (the papers' granularity; PathwayGrad's sanity-check code): the logit layer, then every
residual / dense unit or conv layer from the output towards the input, then the stem. A *unit* is
a module of a custom class (not a plain ``nn.Sequential`` / ``ModuleList`` / ``ModuleDict``) that
holds parameters and contains no other such unit: torchvision's ``BasicBlock``, ``Bottleneck``,
``_DenseLayer``, ``_Transition``. The model itself, a module holding all of its parent's
parameters (a model behind a wrapper), plain containers and modules that contain units are opened;
parameterised leaves (conv, linear) are stages of their own, and a normalisation layer joins the
conv / linear right before it (or, pre-activation style, right after it) in the same container.
An opened module that also owns parameters directly (a ViT's class token, its encoder's position
embedding) gives a stage of just those, ``"<path> (own)"``, below its children (at the input side).
For torchvision ResNet50 this gives 18 stages: ``fc``, the 16 bottlenecks of layer4..layer1, and
``conv1+bn1``; with the unrandomised model as stage 0, the 19 points of the papers' curves
(PathwayGrad's ``sanity_checks.py`` takes a curve point after the ``fc``, after each bottleneck
and after the stem, the same 19).

``layers``: every module that owns parameters, last registered first (Quantus' MPRT order); a
stage re-draws only the module's own parameters, never its children's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from attriflow.errors import UserError

GRANULARITIES = ("blocks", "layers")
_PLAIN_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
_WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear)

Init = Callable[[nn.Module, torch.Generator], None]
"""``init(module, generator)`` re-draws a module's parameters in place (called under ``torch.no_grad``)."""


@dataclass(frozen=True)
class Stage:
    """One randomisation step: the dotted paths of the modules re-drawn together; with
    ``recurse=False`` only the parameters the modules own directly, not their children's."""

    name: str
    modules: tuple[str, ...]
    recurse: bool = True


def randomisation_stages(model: nn.Module, granularity: str = "blocks") -> list[Stage]:
    """The stages of ``model``, top (output) to bottom (input); see the module docstring."""
    if granularity == "layers":
        paths = [name for name, m in model.named_modules() if _owns_parameters(m)]
        return [Stage(p or "model", (p,), recurse=False) for p in reversed(paths)]
    if granularity != "blocks":
        raise UserError(f"stage granularity {granularity!r} is not one of {GRANULARITIES}")
    if not _has_parameters(model):
        raise UserError(f"{type(model).__name__} has no parameters to randomise")
    groups = _groups(model, "", is_model=True) if any(True for _ in model.children()) else [[""]]
    return [g if isinstance(g, Stage) else Stage("+".join(g) or "model", tuple(g)) for g in reversed(groups)]


def resolve_stages(model: nn.Module, stages: str | Sequence[Stage | Sequence[str]]) -> list[Stage]:
    """Stages from a granularity name or an explicit list (``Stage`` or lists of dotted module paths),
    each path checked to exist in ``model``."""
    if isinstance(stages, str):
        return randomisation_stages(model, stages)
    resolved = []
    for item in stages:
        stage = item if isinstance(item, Stage) else Stage("+".join(item), tuple(item))
        for path in stage.modules:
            try:
                model.get_submodule(path)
            except AttributeError:
                raise UserError(f"stage {stage.name!r}: {type(model).__name__} has no module {path!r}") from None
        resolved.append(stage)
    if not resolved:
        raise UserError("stages is empty: give a granularity ('blocks', 'layers') or at least one stage")
    return resolved


def normal_init(module: nn.Module, generator: torch.Generator, std: float = 0.1) -> None:
    """Every parameter of ``module`` re-drawn from N(0, std) (the papers' N(0, 0.1)); buffers kept."""
    for p in module.parameters():
        p.normal_(0.0, std, generator=generator)


def reset_init(module: nn.Module, generator: torch.Generator) -> None:
    """Every submodule's own ``reset_parameters()`` (PyTorch's default initialisation, BatchNorm
    statistics included), with the global RNG seeded from ``generator`` and restored afterwards."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    devices = sorted({p.device.index or 0 for p in module.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for m in module.modules():
            if callable(getattr(m, "reset_parameters", None)):
                m.reset_parameters()


INITS = ("normal", "reset")


def resolve_init(init: str | Init, std: float = 0.1) -> Init:
    """An init function from its name (``normal`` with ``std``, ``reset``) or a callable as given."""
    if callable(init):
        return init
    if init == "normal":
        if not std > 0:
            raise UserError(f"std must be positive for init='normal', got {std!r}")
        return functools.partial(normal_init, std=float(std))
    if init == "reset":
        return reset_init
    raise UserError(f"init {init!r} is not one of {INITS} or a callable init(module, generator)")


def stage_generator(seed: int, index: int, device: torch.device) -> torch.Generator:
    """The generator of stage ``index``: depends only on (seed, index), so a stage draws the same
    weights in the cascading and the independent order and in every chunk of images."""
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(2, dtype=np.uint32)
    return torch.Generator(device=device).manual_seed(int(state[0]) << 32 | int(state[1]))


def randomise_stage(model: nn.Module, stage: Stage, init: Init, generator: torch.Generator) -> None:
    """Re-draw the parameters of ``stage``'s modules in ``model`` in place (with
    ``stage.recurse=False`` the children's parameters and buffers are put back afterwards)."""
    with torch.no_grad():
        for path in stage.modules:
            module = model.get_submodule(path)
            kept = {} if stage.recurse else _children_state(module)
            init(module, generator)
            for name, state in kept.items():
                module.get_submodule(name).load_state_dict(state)


def stage_device(model: nn.Module, stage: Stage) -> torch.device:
    """The device of the stage's first parameter (CPU if it has none)."""
    for path in stage.modules:
        for p in model.get_submodule(path).parameters():
            return p.device
    return torch.device("cpu")


def restore_modules(model: nn.Module, paths: Sequence[str], state: dict[str, torch.Tensor]) -> None:
    """Copy the entries of ``state`` (a state dict of the whole model) back into the modules at ``paths``."""
    for path in paths:
        prefix = f"{path}." if path else ""
        sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        model.get_submodule(path).load_state_dict(sub)


def _children_state(module: nn.Module) -> dict[str, dict[str, torch.Tensor]]:
    """A copy of the state of each child of ``module`` that has any."""
    states = {name: child.state_dict() for name, child in module.named_children()}
    return {name: {k: v.clone() for k, v in state.items()} for name, state in states.items() if state}


def _has_parameters(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def _owns_parameters(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False))


def _is_plain(module: nn.Module) -> bool:
    return type(module) in _PLAIN_CONTAINERS


def _is_composite(module: nn.Module) -> bool:
    """A module of a custom class (not a plain container) with children and parameters."""
    return not _is_plain(module) and _has_parameters(module) and any(True for _ in module.children())


def _contains_unit(module: nn.Module) -> bool:
    """Whether any module below ``module`` is a unit (a composite is one or contains one)."""
    return any(_has_parameters(c) and (_is_composite(c) or _contains_unit(c)) for c in module.children())


def _is_unit(module: nn.Module) -> bool:
    """A custom composite holding parameters and no other unit."""
    return _is_composite(module) and not _contains_unit(module)


def _groups(module: nn.Module, prefix: str, is_model: bool = False) -> list[list[str] | Stage]:
    """Stage groups below ``module`` in registration (bottom-up) order: lists of module paths, or a
    ``Stage`` of the parameters ``module`` owns itself (first: nearest the input). ``is_model``:
    ``module`` is the model (or a wrapper's only parameterised child), so a sole parameterised child
    is the model too."""
    groups: list[list[str] | Stage] = []
    if _owns_parameters(module):
        path = prefix.rstrip(".")
        groups.append(Stage(f"{path or 'model'} (own)", (path,), recurse=False))
    last_leaf: list[str] | None = None  # group of a conv / linear right before, at this level
    pending_norm: str | None = None  # a normalisation layer waiting for the conv / linear after it
    holders = [(name, child) for name, child in module.named_children() if _has_parameters(child)]
    for name, child in holders:
        path = f"{prefix}{name}"
        has_children = any(True for _ in child.children())
        # a module holding all its parent's parameters is the model itself (e.g. behind a wrapper): opened
        whole_model = is_model and len(holders) == 1
        opened = has_children and (_is_plain(child) or _contains_unit(child) or whole_model)
        if isinstance(child, _NORMS) and not opened:
            if last_leaf is not None:
                last_leaf.append(path)
                last_leaf = None
            else:
                if pending_norm is not None:
                    groups.append([pending_norm])
                pending_norm = path
            continue
        if opened:
            if pending_norm is not None:
                groups.append([pending_norm])
                pending_norm = None
            groups.extend(_groups(child, f"{path}.", is_model=whole_model))
            last_leaf = None
            continue
        group = [pending_norm, path] if pending_norm is not None else [path]
        pending_norm = None
        groups.append(group)
        last_leaf = group if isinstance(child, _WEIGHTED) else None
    if pending_norm is not None:
        groups.append([pending_norm])
    return groups
