"""Property-based: arbitrary configs and attribute() arguments raise only the documented errors
(snakemake's WorkflowError for a config the schema refuses, UserError for attribute) or work."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attriflow.attribution import attribute, get_method, list_methods
from attriflow.errors import UserError

from .conftest import WIDTHS, net

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")
SMOKE = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())

values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _paths(obj, prefix=()):
    """Every key path into a nested config."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))


PATHS = sorted(set(_paths(SMOKE)), key=str)


@st.composite
def mutated_configs(draw):
    cfg = copy.deepcopy(SMOKE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent = cfg
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
            if not isinstance(parent, dict):
                break
        if not isinstance(parent, dict):
            continue
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "delete":
            parent.pop(path[-1], None)
        else:
            parent[draw(st.text(min_size=1, max_size=8))] = draw(values)
    return cfg


def _validate(cfg):
    from snakemake.utils import validate

    validate(cfg, SCHEMA)


def test_the_smoke_config_validates():
    _validate(copy.deepcopy(SMOKE))


def test_unknown_key_and_wrong_type_are_named():
    from snakemake.exceptions import WorkflowError

    cfg = copy.deepcopy(SMOKE)
    cfg["sede"] = 1
    with pytest.raises(WorkflowError, match="sede"):
        _validate(cfg)
    cfg = copy.deepcopy(SMOKE)
    cfg["seed"] = "zero"
    with pytest.raises(WorkflowError, match="'zero' is not of type 'integer'"):
        _validate(cfg)


def _validator():
    """The schema's validator, built once (snakemake's validate() uses the same jsonschema draft;
    it re-reads the schema on every call, too slow for hundreds of examples)."""
    import jsonschema

    schema = yaml.safe_load(Path(SCHEMA).read_text())
    return jsonschema.validators.validator_for(schema)(schema)


VALIDATOR = _validator()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_configs())
def test_any_config_is_valid_or_a_validation_error(cfg):
    """No mutation of the config makes the schema check crash; each error names where it is."""
    errors = list(VALIDATOR.iter_errors(cfg))
    for error in errors:
        assert error.message  # jsonschema names the value and the rule it breaks


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_configs())
def test_snakemake_validate_raises_only_workflow_errors(cfg):
    from snakemake.exceptions import WorkflowError

    try:
        _validate(cfg)
    except WorkflowError as exc:
        assert "validat" in str(exc).lower()


# --- attribute() -----------------------------------------------------------------------------------

MODELS = {head: net(head) for head in WIDTHS}
X = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
small_ints = st.integers(-3, 6)
garbage = st.none() | st.booleans() | small_ints | st.floats(allow_nan=True) | st.text(max_size=6) | st.lists(small_ints, max_size=4)


def _param_values(name: str, param):
    if param.choices:
        return st.sampled_from(param.choices) | garbage
    if name in ("steps", "samples", "batch_size"):
        return small_ints | garbage
    if name == "layer":
        return st.sampled_from(["conv1", "conv2", "relu2", "pool", "fc", "nope", ""]) | garbage
    return garbage | st.floats(-2, 100)


EXPLICIT = {"model", "x", "target", "method", "head", "reduce", "absolute"}  # given by name below


@st.composite
def attribute_calls(draw):
    method = draw(st.sampled_from(sorted(list_methods())) | st.text(max_size=8))
    params = {}
    try:
        spec_params = get_method(method).params
    except UserError:
        spec_params = {}
    for name, param in spec_params.items():
        if draw(st.booleans()):
            params[name] = draw(_param_values(name, param))
    if draw(st.booleans()):
        key = draw(st.text(min_size=1, max_size=6).filter(lambda k: k not in EXPLICIT))
        params[key] = draw(garbage)  # an unknown parameter
    if draw(st.booleans()):
        params["batch_size"] = draw(small_ints | garbage)
    head = draw(st.sampled_from(sorted(WIDTHS)) | st.just("nonsense"))
    target = draw(st.none() | small_ints | st.lists(small_ints, min_size=3, max_size=3) | garbage)
    reduce = draw(st.sampled_from(["sum", "mean", "max_abs", None, "max", 3]))
    absolute = draw(st.booleans() | garbage)
    return method, params, head, target, reduce, absolute


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(attribute_calls())
def test_attribute_either_works_or_raises_a_user_error(call):
    method, params, head, target, reduce, absolute = call
    model = MODELS.get(head, MODELS["multiclass"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            maps = attribute(model, X, target, method, head=head, reduce=reduce, absolute=absolute, **params)
        except UserError:
            return
    assert maps.shape[0] == len(X) and maps.shape[-2:] == X.shape[-2:]
    assert maps.dtype == X.dtype
    assert not model._forward_hooks and not model._backward_hooks  # nothing left on the model
    assert torch.isfinite(maps).all()  # non-finite maps are a UserError, never returned
