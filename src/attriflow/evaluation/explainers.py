"""Explainers for the evaluations: ``explain(model, x, target) -> (N, H, W)`` callables.

The evaluations take any such callable, so they do not depend on how maps are made;
:func:`method_explainer` wraps a registered ``attriflow.attribution`` method (imported when called).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from attriflow.evaluation.batching import Explainer


def method_explainer(method: str, **params: Any) -> Explainer:
    """``explain(model, x, target)`` computing ``attribute(model, x, target, method, **params)``
    (channels summed unless ``params`` say otherwise)."""

    def explain(model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        from attriflow.attribution import attribute

        return attribute(model, x, target, method, **params)

    explain.__name__ = f"explain_{method}"
    explain.__qualname__ = explain.__name__
    return explain


__all__ = ["Explainer", "method_explainer"]
