"""Every workflow job starts `attriflow <command>`: building its parser must not import the heavy
libraries only some commands need (torchvision and Zennit cost seconds per job; scikit-learn, SciPy),
and seeding must not load torch's compiler (torch._inductor, 1.3 s)."""

from __future__ import annotations

import subprocess
import sys

LAZY = ("torchvision", "zennit", "sklearn", "scipy", "timm", "matplotlib")


def test_the_command_line_parser_imports_no_optional_heavy_library():
    code = ("import sys; from attriflow.cli import build_parser; build_parser(); "
            f"print(' '.join(m for m in {LAZY!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == [], f"imported while building the parser: {loaded}"


def test_a_small_net_builds_without_torchvision_and_a_densenet_with_it():
    code = ("import sys; from attriflow.models import create_model; create_model('resnet8', num_classes=3); "
            "a = 'torchvision' in sys.modules; create_model('small_densenet', num_classes=3); "
            "print(a, 'torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]


def test_seeding_asks_for_deterministic_kernels_without_loading_the_compiler():
    code = ("import sys, torch; from attriflow.utils.provenance import seed_everything; seed_everything(3); "
            "print(torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(), "
            "'torch._inductor' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True", "False"], "seed_everything must set the flag and not import torch._inductor (1.3 s)"
