"""Weights files and transfer: weights_only loading, head replacement, input-channel adaptation, clear errors."""

from __future__ import annotations

import pytest
import torch

from attriflow.errors import UserError
from attriflow.models import create_model
from attriflow.models.weights import adapt_input_conv, head_name, normalise_state_dict, transfer_weights


class NotAllowed:
    """An arbitrary object: unpickling it would run code, so weights_only loading must refuse it."""


def _save_source(path, num_classes=10, in_chans=3, seed=0):
    torch.manual_seed(seed)
    source = create_model("small_densenet", num_classes=num_classes, in_chans=in_chans)
    torch.save(source.state_dict(), path)
    return source


def test_file_init_keeps_backbone_and_replaces_a_head_of_another_size(tmp_path):
    source = _save_source(tmp_path / "w.pth", num_classes=10)
    model = create_model("small_densenet", num_classes=1, init=str(tmp_path / "w.pth"))
    assert torch.equal(model.features.denseblock4.denselayer2.conv2.weight, source.features.denseblock4.denselayer2.conv2.weight)
    assert torch.equal(model.features.norm5.running_mean, source.features.norm5.running_mean)
    assert model.classifier.weight.shape == (1, source.classifier.in_features)


def test_grey_model_from_rgb_weights_computes_the_same_features(tmp_path):
    """Summing the first conv over input channels makes a grey image give what the RGB model gives its copy."""
    source = _save_source(tmp_path / "w.pth", num_classes=10).eval()
    model = create_model("small_densenet", num_classes=1, in_chans=1, init=str(tmp_path / "w.pth")).eval()
    grey = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model.features(grey), source.features(grey.expand(-1, 3, -1, -1)), atol=1e-5)


def test_adapt_input_conv_repeats_and_scales_for_more_channels():
    w = torch.randn(4, 3, 3, 3)
    assert adapt_input_conv(w, 1).shape == (4, 1, 3, 3)
    six = adapt_input_conv(w, 6)
    assert torch.allclose(six[:, :3] * 2, w) and torch.allclose(six[:, 3:], six[:, :3])


def test_same_head_shape_is_kept_unless_reset(tmp_path):
    source = _save_source(tmp_path / "w.pth", num_classes=4)
    kept = create_model("small_densenet", num_classes=4, init=str(tmp_path / "w.pth"))
    assert torch.equal(kept.classifier.weight, source.classifier.weight)
    reset = create_model("small_densenet", num_classes=4, init=str(tmp_path / "w.pth"), reset_head=True)
    assert not torch.equal(reset.classifier.weight, source.classifier.weight)
    assert torch.equal(reset.features.conv0.weight, source.features.conv0.weight)


def test_head_name_finds_the_output_layer():
    assert head_name(create_model("small_vgg", num_classes=3)) == "classifier.2"
    assert head_name(create_model("resnet8", num_classes=3)) == "fc"
    assert head_name(create_model("resnet18", num_classes=3)) == "fc"
    assert head_name(create_model("resnet8", num_classes=0)) is None


def test_architecture_mismatch_names_the_keys(tmp_path):
    torch.save(create_model("resnet8", num_classes=10).state_dict(), tmp_path / "r8.pth")
    with pytest.raises(UserError, match=r"init file .*r8.pth: weights do not fit ResNet \(shapes differ: conv1.weight \(16, 3, 3, 3\) -> \(32, 3, 3, 3\)"):
        create_model("resnet8", num_classes=10, width=2.0, init=str(tmp_path / "r8.pth"))
    with pytest.raises(UserError, match="missing in the weights"):
        create_model("small_resnet", num_classes=10, init=str(tmp_path / "r8.pth"))


def test_weights_load_with_weights_only(tmp_path):
    torch.save({"state_dict": create_model("resnet8", num_classes=2).state_dict(), "extra": NotAllowed()}, tmp_path / "evil.pth")
    with pytest.raises(UserError, match=r"evil\.pth: not a readable checkpoint"):
        create_model("resnet8", num_classes=2, init=str(tmp_path / "evil.pth"))


def test_corrupt_weights_file_is_named(tmp_path):
    path = tmp_path / "broken.pt"
    torch.save(create_model("resnet8", num_classes=2).state_dict(), path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(UserError, match=r"broken\.pt: not a readable checkpoint"):
        create_model("resnet8", num_classes=2, init=str(path))


def test_missing_init_file_and_unknown_run_are_errors(tmp_path):
    with pytest.raises(UserError, match="weights file not found"):
        create_model("resnet8", num_classes=2, init=str(tmp_path / "nope.pth"))
    with pytest.raises(UserError, match=r"neither random, imagenet.*no-such-run/model.pt does not exist"):
        create_model("resnet8", num_classes=2, init="no-such-run", runs_dir=tmp_path)


def test_normalise_state_dict_unwraps_common_containers():
    sd = {"module.fc.weight": torch.zeros(1), "features.denseblock1.denselayer1.norm.1.weight": torch.ones(1)}
    out = normalise_state_dict({"model": sd, "epoch": 3}, "x")
    assert set(out) == {"fc.weight", "features.denseblock1.denselayer1.norm1.weight"}
    with pytest.raises(UserError, match="holds no state dict"):
        normalise_state_dict({"epoch": 3}, "x")


def test_transfer_into_a_model_without_head_drops_the_source_head():
    source = create_model("resnet8", num_classes=10)
    model = create_model("resnet8", num_classes=0)
    report = transfer_weights(model, source.state_dict(), "test")
    assert report["dropped"] == ["fc.weight", "fc.bias"] and not report["reset"]
    assert torch.equal(model.layer3[0].conv2.weight, source.layer3[0].conv2.weight)


def test_a_headless_torchvision_vgg_keeps_its_hidden_classifier_layers(tmp_path, monkeypatch):
    """VGG's classifier has three Linear layers: without head (the MKD expert) only the last one is
    dropped; the two hidden ones load. Before, the last remaining Linear was taken for the head and
    the source's classifier.6 refused as an unknown key."""
    from attriflow.models import registry

    torch.manual_seed(0)
    source = create_model("vgg11", num_classes=1000).state_dict()
    (tmp_path / "vgg11.pth").write_bytes(b"")  # found on disk; its content comes from the patched reader
    monkeypatch.setattr(registry, "load_weights_file", lambda path: source)
    model = create_model("vgg11", num_classes=0, init=str(tmp_path / "vgg11.pth"))
    assert torch.equal(model.classifier[3].weight, source["classifier.3.weight"])
    assert torch.equal(model.features[0].weight, source["features.0.weight"])
    assert model(torch.rand(1, 3, 32, 32)).shape == (1, 4096)
