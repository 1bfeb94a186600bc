"""Every attribution method of the five papers behind one batched call.

    from attriflow.attribution import attribute
    maps = attribute(model, x, target, method="integrated_gradients", steps=50, batch_size=64)

``list_methods()`` / ``attriflow methods`` list the registered names with their parameters;
other modules register more with :func:`register_method`. See ``dispatch.attribute`` for the
contract (shapes, targets, reduce, absolute) and each method module for its definition.
"""

from attriflow.attribution.registry import (
    describe_methods,
    get_method,
    list_methods,
    methods,
    register_method,
    unregister_method,
)

# Importing the method modules registers their methods.
from attriflow.attribution import (  # noqa: F401
    cam, full_grad, gradients, integrated_gradients, lrp, random_map, smoothgrad,
)
from attriflow.attribution.dispatch import (
    attribute, attribute_with_predictions, parameters_used, reduce_channels, resolve_target,
)
from attriflow.attribution.fast_mode import FastModeWarning
from attriflow.attribution.gradients import input_gradient
from attriflow.attribution.layers import default_layer, resolve_layer
from attriflow.attribution.model_guard import preserved
from attriflow.attribution.relu_override import override_relus
from attriflow.attribution.storage import AttributionRecord, load_attributions, save_attributions
from attriflow.attribution.targets import predict, target_scores

__all__ = [
    "AttributionRecord",
    "FastModeWarning",
    "attribute",
    "attribute_with_predictions",
    "default_layer",
    "describe_methods",
    "get_method",
    "input_gradient",
    "list_methods",
    "load_attributions",
    "methods",
    "override_relus",
    "parameters_used",
    "predict",
    "preserved",
    "reduce_channels",
    "register_method",
    "resolve_layer",
    "resolve_target",
    "save_attributions",
    "target_scores",
    "unregister_method",
]
