"""The method registry: every attribution method is a name with documented parameters.

A method is a function ``fn(model, x, target, *, <parameters>) -> Tensor`` registered with
:func:`register_method`. Its keyword-only parameters, with their defaults, are the method's
parameters; each needs a one-line doc (shared names are documented once in ``SHARED_DOCS``).
The function receives ``x`` as a detached (N, C, H, W) float tensor on the model's device and
``target`` as a (N,) long tensor, and returns either per-channel attributions (N, C, H, W) or,
for spatial methods (``spatial=True``: CAM family, FullGrad), one map (N, 1, H, W).
:func:`attriflow.attribution.attribute` does validation, target resolution, chunking by
``batch_size`` (unless the function takes ``batch_size`` itself), ``absolute`` and ``reduce``.

Other modules add methods with the same decorator, e.g. ``pathway_gradient``::

    @register_method("pathway_gradient", description="...", docs={"contributions": "..."})
    def pathway_gradient(model, x, target, *, sparsity=90.0, contributions="mct"): ...

A function with ``**kwargs`` and a parameter named ``base`` (SmoothGrad) also accepts the
parameters of the method named by ``base``; they are validated against that method.
Modules listed in ``PLUGIN_MODULES`` are imported on the first lookup, so their methods are
registered without this package importing them eagerly (and without import cycles); a listed
module that is missing or fails to import is a :class:`~attriflow.plugins.PluginError` naming it.
Methods from outside the package (entry points, config ``attribution.extra``) are loaded and
checked by :mod:`attriflow.plugins`.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from attriflow.attribution.model_guard import preserved
from attriflow.errors import UserError

# Parameter names shared across methods (DESIGN.md, "The attribution contract"): one meaning each.
SHARED_DOCS: dict[str, str] = {
    "steps": "integration points along the straight path from the baseline to the input",
    "samples": "noisy copies of each image whose attributions are averaged",
    "noise": "standard deviation of the Gaussian noise as a fraction of each image's value range (max - min)",
    "layer": "dotted module path of the feature map to explain; None: the architecture's last feature map "
    "(see default_layer)",
    "sparsity": "percent of neurons removed (0-100)",
    "batch_size": "at most this many rows (images, or images x steps / samples) per forward and backward pass; "
    "None: all at once",
    "seed": "seed of a private random generator for the random draws; None: torch's global generator",
    "fast": "fold BatchNorm into the preceding convolution on a copy and run channels_last (opt-in: slightly "
    "inexact; the measured relative difference is reported as a FastModeWarning)",
}

# Parameters handled by attribute() itself for every method.
COMMON_PARAMETERS: dict[str, tuple[Any, str]] = {
    "reduce": ("sum", "channel reduction of the result: 'sum' | 'mean' | 'max_abs' (signed value of largest "
               "magnitude) -> (N, H, W); None keeps (N, C, H, W) (C = 1 for spatial methods)"),
    "absolute": (False, "take absolute values of the attributions before the channel reduction"),
}


@dataclass(frozen=True)
class Param:
    """One documented parameter of a method."""

    name: str
    default: Any
    doc: str
    choices: tuple[Any, ...] | None = None  # allowed string values (other types are checked by the method)


@dataclass(frozen=True)
class Method:
    """A registered attribution method."""

    name: str
    function: Callable[..., Any]
    description: str
    params: dict[str, Param]
    fixed: dict[str, Any] = field(default_factory=dict)
    spatial: bool = False  # returns one (N, 1, H, W) map instead of per-channel attributions
    batches_itself: bool = False  # takes batch_size itself (expands rows: IG, SmoothGrad)
    nested: bool = False  # accepts the parameters of the method named by its ``base`` parameter
    chunk: bool = True  # attribute() may split x into batch_size chunks (False: draws depend on the whole batch)
    guard: bool = True  # run inside model_guard.preserved (for methods that touch modules)

    def resolve(self, given: dict[str, Any]) -> dict[str, Any]:
        """Validate ``given`` against this method's parameters and fill in defaults."""
        own = {k: v for k, v in given.items() if k in self.params}
        rest = {k: v for k, v in given.items() if k not in self.params}
        out = {name: p.default for name, p in self.params.items()}
        for key, value in own.items():
            out[key] = _checked(self, self.params[key], value)
        if self.nested:
            _load_plugins()
            bases = sorted(n for n, m in _METHODS.items() if not m.nested)
            if out["base"] in _METHODS and _METHODS[out["base"]].nested:
                raise UserError(f"{self.name}: base={out['base']!r} cannot itself take a base method; "
                                f"valid: {', '.join(bases)}")
            if out["base"] not in bases:
                raise UserError(f"{self.name}: unknown base method {out['base']!r}; valid: {', '.join(bases)}")
            base = _METHODS[out["base"]]
            allowed = set(base.params) - set(self.params)
            unknown = sorted(set(rest) - allowed)
            if unknown:
                raise UserError(_unknown_message(self, unknown, extra=sorted(allowed), base=base.name))
            resolved = base.resolve(rest)
            out.update({k: v for k, v in resolved.items() if k in allowed})  # shared names stay the outer's
            return out
        if rest:
            raise UserError(_unknown_message(self, sorted(rest)))
        return out

    def call(self, model, x, target, params: dict[str, Any]):
        """Run the function with the fixed switches of this registration and ``params``
        (inside :func:`~attriflow.attribution.model_guard.preserved` when ``guard`` is set)."""
        if not self.guard:
            return self.function(model, x, target, **self.fixed, **params)
        with preserved(model):
            return self.function(model, x, target, **self.fixed, **params)


_METHODS: dict[str, Method] = {}

# Modules of this package that register more methods (pathway_gradient, prune_grad, ...), imported on
# first lookup. Each listed module must import: a missing or broken one is an error naming it.
PLUGIN_MODULES = ("attriflow.pathways",)
_plugins_loaded = False
_external_loaded = False


def _load_plugins() -> None:
    """Import every module of ``PLUGIN_MODULES`` and every external plug-in (loudly, see
    :mod:`attriflow.plugins`); marked done only when all of them loaded."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    from attriflow.plugins import import_listed

    import_listed(PLUGIN_MODULES, "attribution methods (attriflow.attribution.registry.PLUGIN_MODULES)")
    _load_external()
    _plugins_loaded = True


def _load_external() -> None:
    """Register the methods of installed plug-ins (entry points of group ``attriflow.methods``) and of
    ``$ATTRIFLOW_EXTRA_METHODS`` (``module:function`` specs, set from config ``attribution.extra``)."""
    global _external_loaded
    if _external_loaded:
        return
    from attriflow.plugins import load_external_methods

    load_external_methods()
    _external_loaded = True


def register_method(
    name: str,
    *,
    description: str,
    docs: dict[str, str] | None = None,
    choices: dict[str, tuple[Any, ...]] | None = None,
    fixed: dict[str, Any] | None = None,
    defaults: dict[str, Any] | None = None,
    params: tuple[str, ...] | None = None,
    spatial: bool = False,
    chunk: bool = True,
    guard: bool = True,
) -> Callable[[Callable], Callable]:
    """Decorator: register ``fn`` under ``name``; may be stacked to register variants of one function.

    ``fixed`` binds switches that define the variant (not user parameters), ``defaults`` overrides
    the signature's defaults for this name, ``params`` (optional) lists the keyword-only
    parameters this variant exposes (the others keep their defaults), ``docs`` documents
    method-specific parameters and ``choices`` lists the allowed string values of a parameter.
    ``spatial`` marks methods returning one (N, 1, H, W) map; ``chunk=False`` stops attribute() from
    splitting x by ``batch_size`` (for methods whose random draws span the batch); ``guard`` runs the method inside
    :func:`attriflow.attribution.model_guard.preserved` (keep it for methods that touch modules).
    """
    docs = dict(docs or {})
    choices = dict(choices or {})
    fixed = dict(fixed or {})
    defaults = dict(defaults or {})

    def decorator(fn: Callable) -> Callable:
        if name in _METHODS:
            raise ValueError(f"attribution method {name!r} is already registered")
        sig = inspect.signature(fn)
        exposed: dict[str, Param] = {}
        nested = False
        for p in sig.parameters.values():
            if p.kind is inspect.Parameter.VAR_KEYWORD:
                nested = True
                continue
            if p.kind is not inspect.Parameter.KEYWORD_ONLY or p.name in fixed:
                continue
            if params is not None and p.name not in params:
                continue
            doc = docs.get(p.name) or SHARED_DOCS.get(p.name)
            if not doc:
                raise TypeError(f"{name}: parameter {p.name!r} of {fn.__qualname__} has no doc")
            default = defaults.get(p.name, p.default)
            if default is inspect.Parameter.empty:
                raise TypeError(f"{name}: parameter {p.name!r} needs a default")
            exposed[p.name] = Param(p.name, default, doc, choices.get(p.name))
        unknown = (set(fixed) | set(defaults) | set(docs) | set(choices) | set(params or ())) - set(sig.parameters)
        if unknown:
            raise TypeError(f"{name}: {sorted(unknown)} are not parameters of {fn.__qualname__}")
        if nested and "base" not in exposed:
            raise TypeError(f"{name}: **kwargs is only allowed together with a 'base' parameter")
        _METHODS[name] = Method(
            name=name,
            function=fn,
            description=description,
            params=exposed,
            fixed=fixed,
            spatial=spatial,
            batches_itself="batch_size" in exposed,
            nested=nested,
            chunk=chunk,
            guard=guard,
        )
        return fn

    return decorator


def unregister_method(name: str) -> None:
    """Remove a registration (for tests and interactive experiments)."""
    _METHODS.pop(name, None)


def get_method(name: str, purpose: str = "method") -> Method:
    """The registered method ``name``; a UserError lists the valid names otherwise.

    An unknown name first loads the external plug-ins, then the package's ``PLUGIN_MODULES``."""
    if isinstance(name, str) and name not in _METHODS:
        _load_external()
    if isinstance(name, str) and name not in _METHODS:
        _load_plugins()
    try:
        return _METHODS[name]
    except (KeyError, TypeError):
        raise UserError(f"unknown attribution {purpose} {name!r}; valid: {', '.join(sorted(_METHODS))}") from None


def list_methods() -> list[str]:
    """Every registered method name, sorted."""
    _load_plugins()
    return sorted(_METHODS)


def methods() -> dict[str, Method]:
    """A copy of the registry (name -> Method)."""
    _load_plugins()
    return dict(_METHODS)


def describe_methods(names: list[str] | None = None) -> str:
    """Human-readable listing: every method with its parameters, defaults and one-line docs."""
    lines = ["Parameters of every method:"]
    for key, (default, doc) in COMMON_PARAMETERS.items():
        lines.append(f"  {key:<16} {default!r:<16} {doc}")
    lines.append(f"  {'batch_size':<16} {None!r:<16} {SHARED_DOCS['batch_size']}")
    lines.append("")
    from attriflow.plugins import external_methods

    for name in names or list_methods():
        m = get_method(name)
        kind = "spatial map (N, 1, H, W)" if m.spatial else "per-channel (N, C, H, W)"
        plugin = external_methods().get(m.name)
        lines.append(f"{m.name}: {m.description} [{kind}]" + (f" [plug-in, {plugin.origin}]" if plugin else ""))
        for p in m.params.values():
            extra = f" (one of: {', '.join(map(str, p.choices))})" if p.choices else ""
            lines.append(f"  {p.name:<16} {p.default!r:<16} {p.doc}{extra}")
        if m.nested:
            lines.append(f"  {'...':<16} {'':<16} plus the parameters of the base method")
        if not m.params and not m.nested:
            lines.append("  (no method-specific parameters)")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# shared parameters that also accept None, with the type of their other values
_OPTIONAL = {"batch_size": int, "seed": int, "layer": str}


def _checked(method: Method, param: Param, value: Any) -> Any:
    default = param.default
    if param.name in _OPTIONAL:
        kind = _OPTIONAL[param.name]
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, kind):
            raise UserError(f"{method.name}: {param.name} must be None or of type {kind.__name__}, got {value!r}")
        if param.name == "batch_size" and value < 1:
            raise UserError(f"{method.name}: batch_size must be a positive integer or None, got {value!r}")
        return value
    if param.choices is not None and isinstance(value, str) and value not in param.choices:
        raise UserError(
            f"{method.name}: {param.name}={value!r} is not valid; valid: {', '.join(map(repr, param.choices))}"
        )
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise UserError(f"{method.name}: {param.name} must be True or False, got {value!r}")
    elif isinstance(default, int) and not isinstance(value, bool) and param.choices is None:
        if not isinstance(value, int) and not (isinstance(value, float) and value.is_integer()):
            raise UserError(f"{method.name}: {param.name} must be an integer, got {value!r}")
        value = int(value)
    elif isinstance(default, float) and param.choices is None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{method.name}: {param.name} must be a number, got {value!r}")
        value = float(value)
    return value


def _unknown_message(method: Method, unknown: list[str], extra: list[str] | None = None, base: str = "") -> str:
    valid = sorted(set(method.params) | set(extra or []) | set(COMMON_PARAMETERS) | {"batch_size"})
    where = f" (with base {base!r})" if base else ""
    return (
        f"{method.name}{where}: unknown parameter(s) {', '.join(map(repr, unknown))}; "
        f"valid: {', '.join(valid)}"
    )
