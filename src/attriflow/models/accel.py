"""Device choice and the GPU speed switches of training: mixed precision, channels_last, cudnn autotuning.

Every switch is one code path for CPU and GPU: ``amp='bf16'`` autocasts on the CPU too (which is
how the tests run it), ``fp16`` only on CUDA (CPU fp16 autocast is slow and needs no scaler);
channels_last and ``cudnn.benchmark`` are used on CUDA only, where they help convolutions.
Attribution never autocasts: its maps stay float32.
"""

from __future__ import annotations

import contextlib
import sys

import torch
import torch.nn as nn

AMP_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def pick_device(requested: str) -> torch.device:
    """``auto``/``cuda``: the GPU when there is one, else the CPU (a request for cuda says so on stderr)."""
    if requested in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    if requested == "cuda":
        print("attriflow: no CUDA device, running on the CPU", file=sys.stderr)
    return torch.device("cpu")


def amp_mode(amp: str | bool, device: torch.device) -> str:
    """The precision actually used: ``fp16`` falls back to ``off`` on the CPU; ``bf16`` runs anywhere."""
    if isinstance(amp, bool):
        amp = "fp16" if amp else "off"
    if amp == "fp16" and device.type != "cuda":
        return "off"
    return amp


def autocast(device: torch.device, amp: str):
    """The autocast context of a mode from :func:`amp_mode` (a no-op for ``off``)."""
    if amp == "off":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=AMP_DTYPES[amp])


def grad_scaler(device: torch.device, amp: str) -> torch.amp.GradScaler:
    """A loss scaler, active only for fp16 on CUDA (bf16 has float32's exponent range and needs none)."""
    return torch.amp.GradScaler("cuda", enabled=amp == "fp16" and device.type == "cuda")


def channels_last(device: torch.device) -> bool:
    """Whether 4-d activations should be stored channels_last (faster convolutions on CUDA tensor cores)."""
    return device.type == "cuda"


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` on ``device``, in channels_last memory format where that helps."""
    model.to(device)
    if channels_last(device):
        model.to(memory_format=torch.channels_last)
    return model


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch on ``device``: non-blocking (overlaps with compute when the batch is in pinned memory),
    channels_last for 4-d images on CUDA."""
    x = x.to(device, non_blocking=True)
    if x.ndim == 4 and channels_last(device):
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def configure_backends(device: torch.device, fixed_size: bool) -> None:
    """cudnn autotuning when every batch has the same image size (it re-tunes for every new shape)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = bool(fixed_size)
