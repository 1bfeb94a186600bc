"""Leave the caller's model exactly as it was: hooks, modules, parameters, buffers, flags.

:func:`preserved` snapshots every module's attribute dict (which objects its attributes are) and the
contents of its hook, parameter, buffer and child containers and, on exit, also after an exception,
undoes any change: added attributes and hooks are removed, replaced modules, parameters, buffers and
attribute values are put back (the training flag too), ``.data`` swaps and ``requires_grad`` flips
are reverted. Tensor values changed in place are not copied back (that would cost a copy of the
model); no method here changes them. Cost: well under a millisecond for a ResNet18.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def preserved(model: nn.Module) -> Iterator[nn.Module]:
    """Context manager: whatever happens inside, ``model`` is structurally unchanged afterwards."""
    modules = []
    for module in model.modules():
        attrs = module.__dict__
        # non-empty containers are copied; empty ones only need emptying again on exit
        containers = [(v, v.copy() if v else None) for v in attrs.values() if isinstance(v, (dict, set))]
        modules.append((module, attrs.copy(), containers))
    tensors = [(t, t.requires_grad, t.data) for t in model.parameters()]
    tensors += [(b, b.requires_grad, b.data) for b in model.buffers()]
    try:
        yield model
    finally:
        for module, saved, containers in modules:
            attrs = module.__dict__
            for key in [k for k in attrs if k not in saved]:
                del attrs[key]
            for key, value in saved.items():
                if attrs.get(key, _MISSING) is not value:
                    attrs[key] = value
            for container, content in containers:
                if content is None:
                    if container:
                        container.clear()
                elif not _same(container, content):
                    container.clear()
                    container.update(content)
        for tensor, requires_grad, data in tensors:
            if tensor.data_ptr() != data.data_ptr() or tensor.shape != data.shape or tensor.dtype != data.dtype:
                with torch.no_grad():
                    tensor.data = data
            if tensor.requires_grad != requires_grad:
                tensor.requires_grad_(requires_grad)


_MISSING = object()


def _same(container, content) -> bool:
    """Identity-based equality (tensor values must not be compared with ``==``)."""
    if len(container) != len(content):
        return False
    if isinstance(content, set):
        return container == content
    return all(container.get(k, _MISSING) is v for k, v in content.items()) and list(container) == list(content)
