"""The model factory: names, shapes, the small nets' layouts, VGG stage outputs, ImageNet weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision

from attriflow.errors import UserError
from attriflow.models import create_model, list_models, pool_indices, stage_outputs
from attriflow.models.registry import SMALL_NETS
from attriflow.models.vgg import LAYOUTS, VGG


def test_list_models_has_small_nets_and_torchvision_names():
    names = list_models()
    assert set(SMALL_NETS) <= set(names)
    assert {"vgg16", "resnet50", "densenet121", "resnet18"} <= set(names)
    assert list_models("vgg16*") == ["vgg16_narrow", "vgg16", "vgg16_bn"]


def test_unknown_model_lists_valid_names():
    with pytest.raises(UserError) as err:
        create_model("resnet9", num_classes=3)
    msg = str(err.value)
    assert "unknown model 'resnet9'" in msg and "resnet8" in msg and "densenet121" in msg and "timm:<name>" in msg


def test_unknown_model_kwarg_names_valid_ones():
    with pytest.raises(UserError, match=r"unknown model_kwargs \['depth'\].*width"):
        create_model("resnet8", num_classes=3, depth=3)


@pytest.mark.parametrize("name", sorted(SMALL_NETS))
@pytest.mark.parametrize("in_chans", [1, 3])
def test_small_nets_output_shape_and_head(name, in_chans):
    model = create_model(name, num_classes=5, in_chans=in_chans)
    assert model(torch.rand(2, in_chans, 32, 32)).shape == (2, 5)
    features = create_model(name, num_classes=0, in_chans=in_chans)(torch.rand(2, in_chans, 32, 32))
    assert features.ndim == 2 and features.shape[0] == 2  # num_classes=0: pooled features


@pytest.mark.parametrize("name", sorted(SMALL_NETS))
def test_small_nets_use_each_relu_module_once(name):
    """Separate, non-inplace ReLU modules: a per-module hook sees every activation exactly once."""
    model = create_model(name, num_classes=3)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    calls = {id(m): 0 for m in relus}
    hooks = [m.register_forward_hook(lambda m, i, o: calls.__setitem__(id(m), calls[id(m)] + 1)) for m in relus]
    model(torch.rand(2, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert all(c == 1 for c in calls.values()) and not any(m.inplace for m in relus)


def test_resnet8_is_the_roar_layout():
    model = create_model("resnet8", num_classes=10)
    convs = [m for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and "downsample" not in n]
    assert len(convs) + 1 == 8  # 7 convs and the fc
    assert [getattr(model, f"layer{i}")[0].conv2.out_channels for i in (1, 2, 3)] == [16, 32, 64]
    assert not hasattr(model, "layer4")
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_small_densenet_is_torchvision_densenet_with_named_final_relu():
    model = create_model("small_densenet", num_classes=14, in_chans=1)
    assert isinstance(model, torchvision.models.DenseNet)
    blocks = [n for n, _ in model.features.named_children() if n.startswith("denseblock")]
    assert blocks == ["denseblock1", "denseblock2", "denseblock3", "denseblock4"]
    assert len(list(model.features.denseblock1.children())) == 2 and model.features.denseblock1.denselayer1.conv2.out_channels == 12
    assert isinstance(model.features.relu5, nn.ReLU)


def test_small_vgg_is_vgg11_at_an_eighth():
    model = create_model("small_vgg", num_classes=3)
    widths = [m.out_channels for m in model.features if isinstance(m, nn.Conv2d)]
    assert widths == [v // 8 for v in LAYOUTS["vgg11"] if v != "M"]
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.features)


def test_resolution_options_give_cam_maps_of_at_least_7x7_at_64px():
    """The demo runs' options (docs/deviations.md, "Map resolution"): small_vgg without its 4th max-pool
    and small_resnet with a stride-1 layer4 give 8x8 feature maps at the default CAM layers at 64 px
    (the defaults give 4x4), and still end in one logit per class."""
    from attriflow.attribution import default_layer

    x = torch.zeros(1, 3, 64, 64)
    for name, options, default_side in (("small_vgg", {"drop_pools": [4]}, 4), ("small_resnet", {"strides": [1, 2, 2, 1]}, 4)):
        for kwargs, side in ((options, 8), ({}, default_side)):
            model = create_model(name, num_classes=5, **kwargs).eval()
            seen = []
            handle = model.get_submodule(default_layer(model, x)).register_forward_hook(lambda m, i, o: seen.append(o.shape))
            with torch.no_grad():
                assert model(x).shape == (1, 5)
            handle.remove()
            assert seen[0][-2:] == (side, side), (name, kwargs, seen)
    vgg = create_model("small_vgg", num_classes=5, drop_pools=[4])
    assert sum(isinstance(m, nn.MaxPool2d) for m in vgg.features) == 4


def test_resolution_options_are_checked():
    with pytest.raises(UserError, match="drop_pools \\[6\\] out of range"):
        create_model("small_vgg", num_classes=5, drop_pools=[6])
    with pytest.raises(UserError, match="strides needs one value of 1 or 2 per stage"):
        create_model("small_resnet", num_classes=5, strides=[1, 2, 2])


def test_mkd_cloner_matches_the_authors_layout():
    cloner = create_model("mkd_cloner", num_classes=0)
    widths = [m.out_channels for m in cloner.features if isinstance(m, nn.Conv2d)]
    assert widths == [16, 16, 16, 128, 16, 16, 256, 16, 16, 512, 16, 16, 512]
    assert all(m.bias is None for m in cloner.features if isinstance(m, nn.Conv2d))
    n_params = sum(p.numel() for p in cloner.parameters())
    assert 330_000 < n_params < 350_000  # "about 0.34M"
    # the conv right before each max-pool has no BatchNorm (the authors' make_layers)
    layers = list(cloner.features)
    for i in pool_indices(cloner):
        assert isinstance(layers[i - 1], nn.ReLU) and isinstance(layers[i - 2], nn.Conv2d)


def test_stage_outputs_are_torchvision_vgg16_features_9_16_23_30():
    torch.manual_seed(0)
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])  # torchvision VGG16 features
    expert = nn.Module()
    expert.features = features
    assert pool_indices(expert) == [4, 9, 16, 23, 30]
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        got = stage_outputs(expert, x)
        want = [features[: i + 1](x) for i in (9, 16, 23, 30)]
    assert all(torch.equal(a, b) for a, b in zip(got, want))
    ours = VGG(LAYOUTS["vgg16"], num_classes=0, batch_norm=False)
    assert pool_indices(ours) == [4, 9, 16, 23, 30]  # our VGG16 layout without BN indexes like torchvision


@pytest.mark.parametrize("width", [1.0, 0.125])
def test_cloner_stage_outputs_fit_the_expert(width):
    expert = create_model("vgg16_narrow", num_classes=0, width=width) if width != 1.0 else VGG(LAYOUTS["vgg16"], 0, batch_norm=False)
    cloner = create_model("mkd_cloner", num_classes=0, width=width)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        shapes = [(a.shape, b.shape) for a, b in zip(stage_outputs(expert, x), stage_outputs(cloner, x))]
    assert all(a == b for a, b in shapes) and len(shapes) == 4


def test_stage_outputs_rejects_non_vgg_models():
    with pytest.raises(UserError, match="VGG-layout"):
        stage_outputs(create_model("resnet8", num_classes=2), torch.rand(1, 3, 32, 32))
    with pytest.raises(UserError, match="out of range"):
        stage_outputs(create_model("small_vgg", num_classes=2), torch.rand(1, 3, 32, 32), stages=(6,))


def test_torchvision_model_with_grey_input():
    model = create_model("resnet18", num_classes=4, in_chans=1)
    assert model.conv1.in_channels == 1 and model.fc.out_features == 4
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 4)


def test_imagenet_missing_says_which_file_and_where(tmp_path):
    with pytest.raises(UserError) as err:
        create_model("resnet18", num_classes=3, init="imagenet", weights_dir=tmp_path / "w")
    msg = str(err.value)
    assert "resnet18-f37072fd.pth" in msg and str((tmp_path / "w").resolve()) in msg
    assert "nothing is downloaded" in msg and "https://download.pytorch.org/models/resnet18-f37072fd.pth" in msg
    assert "checkpoints" in msg  # the torch hub cache was searched


def test_imagenet_for_a_small_net_points_to_pretraining_runs():
    with pytest.raises(UserError, match="earlier run on shape scenes"):
        create_model("small_densenet", num_classes=3, init="imagenet")


def test_imagenet_weights_found_in_the_weights_dir_keep_backbone_replace_head(tmp_path):
    torch.manual_seed(1)
    source = torchvision.models.resnet18(num_classes=1000)
    (tmp_path / "w").mkdir()
    torch.save(source.state_dict(), tmp_path / "w" / "resnet18-f37072fd.pth")
    model = create_model("resnet18", num_classes=3, in_chans=1, init="imagenet", weights_dir=tmp_path / "w")
    assert torch.equal(model.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
    assert torch.allclose(model.conv1.weight, source.conv1.weight.sum(1, keepdim=True))
    assert model.fc.out_features == 3
