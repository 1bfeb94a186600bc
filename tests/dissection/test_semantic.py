"""Semantic attribution on a model whose concept units are planted: closed-form contributions and
the planted concept ranked first; the model is left as it was."""

from __future__ import annotations

import pytest
import torch

from attriflow.dissection import concept_contributions, dissect, semantic_attribution, unit_contributions
from attriflow.errors import UserError

from .conftest import PlantedNet, shapes_probe


@pytest.fixture
def labelled(planted):
    images, masks = shapes_probe(60)
    units = dissect(planted, "features", (images, masks), concepts=["disc", "square"], quantile=0.95, progress=False)
    return units, images, masks


def test_unit_contributions_are_weight_times_mean_activation(planted):
    """GAP + linear head: d score / d a_k(i, j) = w_k / (h w), so the contribution is w_k * mean(a_k)."""
    images, _ = shapes_probe(5, seed=2)
    contrib, acts, scores, targets = unit_contributions(planted, "features", images)
    w = planted.head.weight[0]
    expected = w * acts.mean(dim=(2, 3))
    torch.testing.assert_close(contrib, expected, rtol=1e-5, atol=1e-6)
    # completeness for this linear head: contributions sum to the score (the bias is zero)
    torch.testing.assert_close(contrib.sum(1), scores, rtol=1e-5, atol=1e-5)
    assert (targets == 0).all()  # one output: the score explained is output 0


def test_the_planted_concept_ranks_first(planted, labelled):
    units, images, masks = labelled
    disc_only = next(i for i in range(len(images)) if masks[i, 0].any() and not masks[i, 1].any())
    square_only = next(i for i in range(len(images)) if masks[i, 1].any() and not masks[i, 0].any())
    e = semantic_attribution(planted, "features", images[disc_only], units)
    assert e.concepts.loc[0, "concept"] == "disc" and e.concepts.loc[0, "rank"] == 1
    # the disc's contribution is unit 0's: 2.0 * its mean activation
    with torch.no_grad():
        a0 = planted.features(images[disc_only:disc_only + 1])[0, 0].mean()
    assert e.concepts.set_index("concept").loc["disc", "contribution"] == pytest.approx(float(2.0 * a0), rel=1e-5)
    assert e.maps.shape == (len(e.units), 64, 64) and e.maps.dtype == torch.bool
    disc_map = e.maps[e.units.index[e.units["unit"] == 0][0]]
    overlap = (disc_map & masks[disc_only, 0]).sum() / disc_map.sum().clamp(min=1)
    assert overlap > 0.5  # the unit's thresholded map lies on the disc
    # with the square's head weight raised, a square-only image ranks square first
    heavy = PlantedNet(head_weights=(0.1, 5.0, 0.0, 0.0)).eval()
    e = semantic_attribution(heavy, "features", images[square_only], units)
    assert e.concepts.loc[0, "concept"] == "square"


def test_concept_contributions_sum_units_and_rank(labelled):
    units, _, _ = labelled
    contrib = torch.tensor([[1.0, 3.0, -2.0, 0.5], [4.0, 1.0, 0.0, 0.0]])
    table = concept_contributions(contrib, units, ["disc", "square"])
    by = table.set_index(["image", "concept"])
    assert by.loc[(0, "disc"), "contribution"] == 1.0 and by.loc[(0, "square"), "contribution"] == 3.0
    assert by.loc[(0, "square"), "rank"] == 1 and by.loc[(1, "disc"), "rank"] == 1
    assert (table["n_units"] == 1).all()


def test_model_is_left_unchanged_and_errors_are_clear(planted, labelled):
    units, images, _ = labelled
    before = {k: v.clone() for k, v in planted.state_dict().items()}
    semantic_attribution(planted, "features", images[0], units)
    assert not planted.features._forward_hooks
    assert all(torch.equal(before[k], v) for k, v in planted.state_dict().items())
    with pytest.raises(UserError, match="one image"):
        semantic_attribution(planted, "features", images[:2], units)
    with pytest.raises(UserError, match="units"):
        semantic_attribution(planted, "features", images[0], units.iloc[:2])


def test_the_figure_is_written(planted, labelled, tmp_path):
    from attriflow.dissection.figures import plot_semantic_examples

    units, images, _ = labelled
    explained = [(images[i], semantic_attribution(planted, "features", images[i], units)) for i in range(2)]
    path = plot_semantic_examples(explained, tmp_path / "semantic.png")
    assert path.stat().st_size > 10_000
    none = units.assign(concept=None)
    path = plot_semantic_examples([(images[0], semantic_attribution(planted, "features", images[0], none))],
                                  tmp_path / "none.png")
    assert path.is_file()
