"""The evaluations accept ``attriflow.attribution`` methods through ``method_explainer`` (when that package is present)."""

from __future__ import annotations

import numpy as np
import pytest

from attriflow.evaluation import method_explainer, randomisation_test

from .conftest import gradient, images, tiny_cnn


def test_method_explainer_gives_the_same_gradient_maps():
    pytest.importorskip("attriflow.attribution", reason="attribution package not available")
    model, x = tiny_cnn(), images(3, size=16)
    target = model(x).argmax(1)
    explain = method_explainer("gradient")
    np.testing.assert_allclose(explain(model, x, target), gradient(model, x, target), atol=1e-6)
    ours = randomisation_test(model, x, target, {"g": gradient}, measures=("spearman",))
    theirs = randomisation_test(model, x, target, {"g": explain}, measures=("spearman",))
    np.testing.assert_allclose(ours.value, theirs.value, atol=1e-6)
