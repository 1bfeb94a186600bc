"""A small DenseNet: torchvision's DenseNet with fewer, narrower blocks, any input channels and stem.

The semantic-cxr models at demo scale (DenseNet121 at paper scale). Module names are
torchvision's (``features.denseblock4``, ``features.norm5``, ``classifier``), plus
``features.relu5``: the final ReLU is a module (torchvision applies it functionally), so the
dissected activation, the last dense block after norm and ReLU, can be hooked. Every ReLU is
non-inplace.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
from torchvision.models import DenseNet

from attriflow.errors import UserError

STEMS = ("cifar", "small", "imagenet")
STEM_STRIDE = {"cifar": 1, "small": 2, "imagenet": 4}


def _pools_dropped(natural: int, output_stride: int | None, transitions: int) -> int:
    """How many of the last transitions lose their pooling to reach ``output_stride``."""
    if output_stride is None:
        return 0
    valid = [natural // 2**k for k in range(transitions + 1)]
    if isinstance(output_stride, bool) or output_stride not in valid:
        raise UserError(f"DenseNet output_stride {output_stride!r} is not possible with this stem; valid: {valid}")
    return valid.index(output_stride)


class SmallDenseNet(DenseNet):
    """torchvision's DenseNet with ``in_chans`` inputs and a choice of stem.

    ``stem``: ``imagenet`` (7x7 conv stride 2, 3x3 max-pool: output stride 32, as torchvision),
    ``small`` (3x3 conv stride 2, no pool: stride 16) or ``cifar`` (3x3 conv stride 1: stride 8).
    ``output_stride``: the input size over the last dense block's size; None keeps the stem's own
    (32, 16, 8). A smaller power-of-two stride drops the 2x2 average pooling of the last transitions
    (no parameter changes, so weights transfer between strides): ``stem="imagenet",
    output_stride=8`` gives an 8x8 last block at 64 px for about 1.8x the compute of stride 32
    (``stem="cifar"`` reaches 8x8 too, at about 30x).
    ``num_classes=0`` returns pooled features.
    """

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, growth_rate: int = 12,
                 block_config: Sequence[int] = (2, 2, 2, 2), num_init_features: int = 24, bn_size: int = 4,
                 stem: str = "imagenet", output_stride: int | None = None):
        if stem not in STEMS:
            raise UserError(f"DenseNet stem {stem!r} is not one of {STEMS}")
        natural = STEM_STRIDE[stem] * 2 ** (len(block_config) - 1)
        dropped = _pools_dropped(natural, output_stride, len(block_config) - 1)
        super().__init__(growth_rate=growth_rate, block_config=tuple(block_config), num_init_features=num_init_features,
                         bn_size=bn_size, drop_rate=0.0, num_classes=max(num_classes, 1))
        big = stem == "imagenet"
        conv0 = nn.Conv2d(in_chans, num_init_features, kernel_size=7 if big else 3, stride=1 if stem == "cifar" else 2,
                          padding=3 if big else 1, bias=False)
        nn.init.kaiming_normal_(conv0.weight)
        self.features.conv0 = conv0
        if not big:
            self.features.pool0 = nn.Identity()
        for i in range(len(block_config) - dropped, len(block_config)):
            self.features.get_submodule(f"transition{i}").pool = nn.Identity()
        self.output_stride = natural // 2**dropped
        self.features.add_module("relu5", nn.ReLU())
        self.num_features = self.classifier.in_features
        if num_classes == 0:
            self.classifier = nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.ReLU):
                m.inplace = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1)
        return self.classifier(out)


def small_densenet(num_classes: int = 1000, in_chans: int = 3, growth_rate: int = 12,
                   block_config: Sequence[int] = (2, 2, 2, 2), num_init_features: int = 24, stem: str = "imagenet",
                   output_stride: int | None = None) -> SmallDenseNet:
    """DenseNet with growth 12 and blocks 2-2-2-2 (DenseNet121: 32 and 6-12-24-16); ``output_stride``
    as in :class:`SmallDenseNet`."""
    return SmallDenseNet(num_classes, in_chans, growth_rate, block_config, num_init_features, stem=stem,
                         output_stride=output_stride)
