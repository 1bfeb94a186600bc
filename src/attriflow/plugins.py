"""Plug-ins: attribution methods and models from outside the package, loaded loudly and checked.

Sources, all with the same contract as the built-ins:

- **methods**: Python entry points of group ``attriflow.methods`` (``name = "package.module:function"``)
  and config ``attribution.extra: ["package.module:function", ...]`` (passed to the workflow's jobs in
  ``$ATTRIFLOW_EXTRA_METHODS``). The function is ``fn(model, x, target, *, <parameters with defaults>)``
  returning (N, C, H, W) attributions, or one (N, 1, H, W) map when ``fn.spatial = True``; each parameter
  is documented by a docstring line ``<name>: <what it means>`` (shared names such as ``batch_size``
  are documented once by the registry). A function already decorated with
  :func:`attriflow.attribution.register_method` keeps its registration; an entry point may also name a
  module whose import registers methods that way.
- **models**: entry points of group ``attriflow.models``: ``name = "package.module:factory"`` with
  ``factory(num_classes, in_chans, **kwargs) -> nn.Module``, created by name through
  :func:`attriflow.models.create_model` like timm's ``create_model`` (weights: ``init`` = a weights file).

A plug-in that cannot be imported, has the wrong signature, returns the wrong shape or changes the
model it explains is refused with a :class:`PluginError` naming it: :func:`check_plugins` probes every
plug-in on a tiny model, and the workflow calls :func:`check_workflow_config` while the Snakefile is
parsed, before any job runs (``attriflow check-plugins`` does the same from the command line).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable, Iterable, Mapping, Sequence

from attriflow.errors import UserError

METHOD_GROUP = "attriflow.methods"
MODEL_GROUP = "attriflow.models"
EXTRA_ENV = "ATTRIFLOW_EXTRA_METHODS"
EXPECTED_SIGNATURE = "fn(model, x, target, *, <parameters with defaults>)"


class PluginError(UserError):
    """A listed module or a plug-in that cannot be used; the message names it and says why."""


@dataclass(frozen=True)
class Plugin:
    """One external attribution method or model: its name, what kind, and where it came from."""

    name: str
    kind: str  # "method" | "model"
    origin: str  # e.g. "entry point attriflow.methods: pkg.mod:fn" or "attribution.extra: pkg.mod:fn"


_EXTERNAL_METHODS: dict[str, Plugin] = {}


def import_listed(names: Iterable[str], what: str) -> list[Any]:
    """Import every module in ``names``; a module that is missing or fails to import is a PluginError
    naming it (and the list it is in), never a silent skip."""
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except Exception as exc:  # noqa: BLE001 - any failure of a listed module is reported as such
            raise PluginError(f"module {name!r}, listed for {what}, failed to import: "
                              f"{type(exc).__name__}: {exc}") from exc
    return modules


def entry_points(group: str) -> list[metadata.EntryPoint]:
    """The installed entry points of ``group``, one per name (sorted by name)."""
    seen: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=group):
        seen.setdefault(ep.name, ep)
    return [seen[n] for n in sorted(seen)]


def extra_specs(extra: Sequence[str] | None = None) -> list[str]:
    """``module:function`` specs from ``extra`` or, when None, from ``$ATTRIFLOW_EXTRA_METHODS``."""
    if extra is None:
        extra = os.environ.get(EXTRA_ENV, "").split(",")
    return [s.strip() for s in extra if s and s.strip()]


def set_extra(extra: Sequence[str]) -> None:
    """Publish config ``attribution.extra`` to this process and the jobs it starts."""
    specs = extra_specs(list(extra))
    for spec in specs:
        _split_spec(spec, "attribution.extra")
    os.environ[EXTRA_ENV] = ",".join(specs)


def external_methods() -> dict[str, Plugin]:
    """Every method registered from outside the package so far (name -> Plugin)."""
    return dict(_EXTERNAL_METHODS)


def load_external_methods(extra: Sequence[str] | None = None) -> list[Plugin]:
    """Register the methods of every ``attriflow.methods`` entry point and every ``extra`` spec
    (default: ``$ATTRIFLOW_EXTRA_METHODS``); loading twice is a no-op. Returns what was loaded."""
    loaded = []
    for ep in entry_points(METHOD_GROUP):
        origin = f"entry point {METHOD_GROUP}: {ep.name} = {ep.value}"
        loaded += _load_method(ep.name, origin, ep.load)
    for spec in extra_specs(extra):
        origin = f"attribution.extra: {spec}"
        module, attr = _split_spec(spec, "attribution.extra")
        loaded += _load_method(None if attr is None else attr.rsplit(".", 1)[-1], origin,
                               lambda module=module, attr=attr: _resolve(module, attr))
    return loaded


def _split_spec(spec: str, where: str) -> tuple[str, str | None]:
    module, _, attr = spec.partition(":")
    if not re.fullmatch(r"[A-Za-z_][\w.]*", module) or (attr and not re.fullmatch(r"[A-Za-z_][\w.]*", attr)):
        raise PluginError(f"{where}: {spec!r} is not of the form 'package.module:function'")
    return module, attr or None


def _resolve(module: str, attr: str | None) -> Any:
    obj = importlib.import_module(module)
    for part in (attr.split(".") if attr else []):
        obj = getattr(obj, part)
    return obj


def _load_method(name: str | None, origin: str, load: Callable[[], Any]) -> list[Plugin]:
    from attriflow.attribution import registry

    known = {n for n, p in _EXTERNAL_METHODS.items() if p.origin == origin}
    if known:
        return [_EXTERNAL_METHODS[n] for n in sorted(known)]
    before = dict(registry._METHODS)
    try:
        obj = load()
    except Exception as exc:  # noqa: BLE001 - whatever the plug-in raised, name the plug-in
        for n in set(registry._METHODS) - set(before):  # a half-imported module leaves nothing behind
            registry.unregister_method(n)
        raise PluginError(f"attribution plug-in {name or origin!r} ({origin}) failed to import: "
                          f"{type(exc).__name__}: {exc}") from exc
    added = sorted(set(registry._METHODS) - set(before))
    if inspect.ismodule(obj):
        if not added:
            raise PluginError(f"attribution plug-in {name or obj.__name__!r} ({origin}): importing module "
                              f"{obj.__name__} registered no method; point at a function ({EXPECTED_SIGNATURE}) "
                              "or decorate functions with attriflow.attribution.register_method")
    elif callable(obj):
        owner = [n for n, m in registry._METHODS.items() if m.function is obj]
        if not owner:
            added = [_register_function(obj, name or obj.__name__, origin)]
        elif not added:
            added = owner
    else:
        raise PluginError(f"attribution plug-in {name!r} ({origin}) is a {type(obj).__name__}, not a function "
                          f"{EXPECTED_SIGNATURE}")
    plugins = [Plugin(n, "method", origin) for n in added]
    for p in plugins:
        _EXTERNAL_METHODS[p.name] = p
    return plugins


def _register_function(fn: Callable, name: str, origin: str) -> str:
    """Register a plain function with the registry's checks; any problem is a PluginError naming it."""
    from attriflow.attribution import registry

    label = f"attribution plug-in {name!r} ({origin})"
    if name in registry._METHODS:
        raise PluginError(f"{label}: the name {name!r} is already taken by another method; rename the entry point "
                          "or the function")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise PluginError(f"{label}: no inspectable signature ({exc}); expected {EXPECTED_SIGNATURE}") from None
    params = list(sig.parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    wrong = [p.name for p in params if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    wrong += [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
    if len(positional) != 3 or any(p.default is not p.empty for p in positional) or wrong:
        raise PluginError(f"{label}: wrong signature {fn.__name__}{sig}; expected {EXPECTED_SIGNATURE} "
                          "(exactly three positional parameters, every other one keyword-only with a default)")
    doc = inspect.getdoc(fn) or ""
    docs = {}
    for p in params:
        if p.kind is p.KEYWORD_ONLY:
            m = re.search(rf"^\s*{re.escape(p.name)}\s*(\([^)]*\))?\s*:\s*(.+)$", doc, flags=re.MULTILINE)
            if m:
                docs[p.name] = m.group(2).strip()
            elif p.name not in registry.SHARED_DOCS:
                raise PluginError(f"{label}: parameter {p.name!r} has no doc; add a docstring line "
                                  f"'{p.name}: <what it means>'")
    description = doc.splitlines()[0].strip() if doc else f"plug-in {origin}"
    try:
        registry.register_method(name, description=description, docs=docs,
                                 spatial=bool(getattr(fn, "spatial", False)))(fn)
    except (TypeError, ValueError) as exc:
        raise PluginError(f"{label}: {exc}") from exc
    return name


# ---------------------------------------------------------------------------------------------- models


def model_entry_points() -> dict[str, metadata.EntryPoint]:
    """Installed model factories (group ``attriflow.models``), by name."""
    return {ep.name: ep for ep in entry_points(MODEL_GROUP)}


def model_factory(name: str) -> Callable[..., Any]:
    """The factory of the model plug-in ``name``; a PluginError names it when it cannot be loaded."""
    ep = model_entry_points()[name]
    origin = f"entry point {MODEL_GROUP}: {ep.name} = {ep.value}"
    try:
        factory = ep.load()
    except Exception as exc:  # noqa: BLE001
        raise PluginError(f"model plug-in {name!r} ({origin}) failed to import: {type(exc).__name__}: {exc}") from exc
    if not callable(factory):
        raise PluginError(f"model plug-in {name!r} ({origin}) is a {type(factory).__name__}, not a factory "
                          "factory(num_classes, in_chans, **kwargs) -> nn.Module")
    params = inspect.signature(factory).parameters
    has_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    if not has_kwargs and not {"num_classes", "in_chans"} <= set(params):
        raise PluginError(f"model plug-in {name!r} ({origin}): wrong signature {factory.__name__}"
                          f"{inspect.signature(factory)}; expected factory(num_classes, in_chans, **kwargs) -> nn.Module")
    return factory


# ---------------------------------------------------------------------------------------------- probes

PROBE_SHAPE = (2, 3, 16, 16)


def _fingerprint(model) -> dict[str, Any]:
    """What a method must leave as it was: values, flags, hooks and the module tree."""
    hooks = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
             "_state_dict_hooks", "_load_state_dict_pre_hooks")
    return {
        "tensors": {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()},
        "requires_grad": {k: p.requires_grad for k, p in model.named_parameters()},
        "modules": [(n, type(m).__name__, m.training) for n, m in model.named_modules()],
        "hooks": {n: tuple(len(getattr(m, h, {}) or {}) for h in hooks) for n, m in model.named_modules()},
    }


def _changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    import torch

    out = []
    for key, value in before["tensors"].items():
        new = after["tensors"].get(key)
        if new is None or new.shape != value.shape or not torch.equal(new, value):
            out.append(f"values of {key}")
    out += [f"requires_grad of {k}" for k, v in before["requires_grad"].items() if after["requires_grad"].get(k) != v]
    if before["modules"] != after["modules"]:
        out.append("modules (replaced, added or train/eval mode)")
    out += [f"hooks of {n or 'the model'}" for n, h in before["hooks"].items() if after["hooks"].get(n) != h]
    return out


def probe_method(name: str) -> None:
    """Run method ``name`` with its defaults on a tiny ResNet8 and 2 random images; a PluginError names it
    when it fails, returns a wrong shape or non-finite values, or changes the model."""
    import torch

    from attriflow.attribution.model_guard import preserved
    from attriflow.attribution.registry import get_method
    from attriflow.models import create_model

    plugin = _EXTERNAL_METHODS.get(name)
    label = f"attribution plug-in {name!r}" + (f" ({plugin.origin})" if plugin else "")
    method = get_method(name)
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = create_model("resnet8", num_classes=3).eval()
    x = torch.rand(PROBE_SHAPE, generator=gen)
    target = torch.tensor([0, 2])
    params = method.resolve({})
    before = _fingerprint(model)
    with preserved(model):  # restores structure afterwards; what it would have had to restore is reported
        try:
            out = method.function(model, x.clone(), target, **method.fixed, **params)
        except Exception as exc:  # noqa: BLE001
            raise PluginError(f"{label} failed on a probe of {PROBE_SHAPE[0]} images {tuple(PROBE_SHAPE)} with its "
                              f"defaults {params}: {type(exc).__name__}: {exc}") from exc
        changed = _changes(before, _fingerprint(model))
    if changed:
        raise PluginError(f"{label} changes the model it explains ({', '.join(changed[:4])}"
                          f"{', ...' if len(changed) > 4 else ''}); methods must leave parameters, buffers, "
                          "flags, hooks and modules as they were")
    n, c, h, w = PROBE_SHAPE
    wanted = (n, 1, h, w) if method.spatial else (n, c, h, w)
    kind = "a spatial method (fn.spatial = True)" if method.spatial else "a per-channel method"
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != wanted:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise PluginError(f"{label} returned {got} for input {tuple(PROBE_SHAPE)}; {kind} must return {wanted} "
                          "((N, C, H, W) per channel, or (N, 1, H, W) with fn.spatial = True)")
    if not torch.isfinite(out).all():
        raise PluginError(f"{label} returned non-finite values (NaN or inf) on the probe")


def probe_model(name: str) -> None:
    """Build model plug-in ``name`` with 3 classes and run 2 images of 32 x 32 through it."""
    import torch

    from attriflow.models import create_model

    ep = model_entry_points()[name]
    label = f"model plug-in {name!r} (entry point {MODEL_GROUP}: {ep.name} = {ep.value})"
    try:
        model = create_model(f"plugin:{name}", num_classes=3, in_chans=3).eval()
    except PluginError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise PluginError(f"{label} failed to build with num_classes=3, in_chans=3: {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, torch.nn.Module):
        raise PluginError(f"{label} returned a {type(model).__name__}, not a torch.nn.Module")
    try:
        with torch.no_grad():
            out = model(torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    except Exception as exc:  # noqa: BLE001
        raise PluginError(f"{label} failed on 2 images of 3 x 32 x 32: {type(exc).__name__}: {exc}") from exc
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, 3):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise PluginError(f"{label} returned {got} for 2 images and 3 classes; expected logits (2, 3)")


def check_plugins(extra: Sequence[str] | None = None) -> list[Plugin]:
    """Load every external method and model and probe each one; the first broken one raises a
    PluginError naming it. Returns the plug-ins that passed."""
    methods = load_external_methods(extra)
    for p in methods:
        probe_method(p.name)
    models = []
    for name, ep in model_entry_points().items():
        probe_model(name)
        models.append(Plugin(name, "model", f"entry point {MODEL_GROUP}: {ep.name} = {ep.value}"))
    return methods + models


def benchmark_entries(config: Mapping[str, Any]) -> list[str]:
    """Config ``benchmark.methods``, each checked to be an entry of ``attribution.methods`` or a plain name;
    ``benchmark.runs`` checked to be runs of the config."""
    entries = list((config.get("benchmark") or {}).get("methods") or [])
    configured = (config.get("attribution") or {}).get("methods") or {}
    for entry in entries:
        if not isinstance(entry, str) or not re.fullmatch(r"[A-Za-z0-9_][\w.-]*", entry):
            raise UserError(f"benchmark.methods: {entry!r} must be a key of attribution.methods or a method name")
        spec = configured.get(entry) or {}
        if not isinstance(spec, Mapping):
            raise UserError(f"attribution.methods.{entry}: expected a mapping of parameters, got {spec!r}")
    runs = list((config.get("benchmark") or {}).get("runs") or [])
    unknown = [r for r in runs if r not in (config.get("runs") or {})]
    if unknown:
        raise UserError(f"benchmark.runs: {unknown} are not runs of this config; valid: {', '.join(config.get('runs') or {})}")
    return entries


def check_workflow_config(config: Mapping[str, Any]) -> list[Plugin]:
    """What the Snakefile runs at parse time, before any job: publish ``attribution.extra`` to the jobs,
    check ``benchmark.methods``, and, when there is any plug-in (installed or configured), probe every one
    and resolve every benchmark entry's method and parameters. Cheap (no torch) when there is none."""
    extra = list((config.get("attribution") or {}).get("extra") or [])
    set_extra(extra)
    entries = benchmark_entries(config)
    if not extra and not entry_points(METHOD_GROUP) and not entry_points(MODEL_GROUP):
        return []
    passed = check_plugins(extra)
    from attriflow.attribution.registry import get_method

    configured = config["attribution"].get("methods") or {}
    for entry in entries:
        spec = dict(configured.get(entry) or {})
        name = spec.pop("method", entry)
        get_method(name).resolve(spec)
    return passed


# ---------------------------------------------------------------------------------------------- command


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check-plugins", help="load and probe every attribution-method and model plug-in")
    p.add_argument("--extra", nargs="*", default=None, metavar="MODULE:FUNCTION",
                   help=f"method specs as in config attribution.extra (default: ${EXTRA_ENV})")
    p.add_argument("--config", metavar="YAML", help="a workflow config: check its attribution.extra and benchmark.methods")
    p.set_defaults(func=_check)


def _check(args) -> int:
    if args.config:
        import yaml

        with open(args.config, encoding="utf-8") as fh:
            passed = check_workflow_config(yaml.safe_load(fh) or {})
    else:
        passed = check_plugins(args.extra)
    if not passed:
        print("no plug-ins installed or configured")
    for p in passed:
        print(f"ok  {p.kind:<6} {p.name:<24} {p.origin}")
    return 0
