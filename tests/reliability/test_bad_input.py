"""Bad input gives a clear UserError naming the file, key or value, and nothing is half-written."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attriflow.attribution import attribute
from attriflow.cli import main
from attriflow.data.imageset import ImageSet
from attriflow.errors import UserError
from attriflow.evaluation.perturbation import pixel_perturbation
from attriflow.models import tasks
from attriflow.models.registry import create_model
from attriflow.models.runs import checksum_file_of, load_run, save_model_file

from .conftest import images, net


def _saved_run(tmp_path, name="resnet8"):
    model = create_model(name, num_classes=3, in_chans=3)
    info = {"model": {"name": name, "num_classes": 3, "in_chans": 3, "kwargs": {}}, "task": "multiclass",
            "class_names": ["a", "b", "c"], "input_size": [16, 16], "epoch": 1, "run": {}}
    path = save_model_file(tmp_path / "run" / "model.pt", model, info)
    return path, info


# --- model files -----------------------------------------------------------------------------------

def test_saved_model_records_its_sha256_and_loads(tmp_path):
    path, _ = _saved_run(tmp_path)
    from attriflow.utils.io import sha256_file

    assert checksum_file_of(path).read_text() == f"{sha256_file(path)}  model.pt\n"
    model, info = load_run(path.parent)
    assert info["task"] == "multiclass" and not model.training
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt", "model.pt.sha256"]  # no temp files
    model2, info2 = load_run(path.parent)
    again = save_model_file(tmp_path / "again" / "model.pt", model2, {k: v for k, v in info2.items() if k != "format"})
    assert again.read_bytes() == path.read_bytes()  # the same weights and info give the same bytes


def test_truncated_model_file_is_refused(tmp_path):
    path, _ = _saved_run(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=r"model.pt: SHA-256 .* does not match .* recorded in model.pt.sha256"):
        load_run(path.parent)


def test_tampered_model_file_is_refused_even_when_it_still_loads(tmp_path):
    """Same structure, other weights: only the checksum can tell."""
    path, info = _saved_run(tmp_path)
    record = checksum_file_of(path).read_text()
    other = create_model("resnet8", num_classes=3, in_chans=3)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(1.0)
    save_model_file(path, other, info)
    checksum_file_of(path).write_text(record)  # the tamperer did not update the record
    with pytest.raises(UserError, match="does not match"):
        load_run(path.parent)


def test_model_file_without_its_record_is_refused(tmp_path):
    path, _ = _saved_run(tmp_path)
    checksum_file_of(path).unlink()
    with pytest.raises(UserError, match="no recorded checksum model.pt.sha256"):
        load_run(path.parent)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    path, info = _saved_run(tmp_path, "resnet8")
    model = create_model("small_vgg", num_classes=3, in_chans=3)
    save_model_file(path, model, info)  # weights of a VGG under a file that names resnet8
    with pytest.raises(UserError, match=r"weights do not fit the model it names \(resnet8\)"):
        load_run(path.parent)


def test_init_from_a_tampered_run_is_refused(tmp_path):
    from attriflow.models.registry import initialise

    path, _ = _saved_run(tmp_path)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(UserError, match="does not match"):
        initialise(create_model("resnet8", num_classes=3, in_chans=3), "resnet8", "run", runs_dir=tmp_path)


# --- images and models --------------------------------------------------------------------------

def test_images_with_the_wrong_channel_count_are_named():
    with pytest.raises(UserError, match="x has 1 channels, but the model's first convolution takes 3"):
        attribute(net("multiclass"), images(channels=1), 0, "gradient")


def test_images_of_a_size_the_model_cannot_take_are_named():
    model = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * 12 * 12, 3)).eval()
    with pytest.raises(UserError, match=r"cannot run on images of shape \(2, 3, 16, 16\)"):
        attribute(model, images(2, size=16), None, "gradient")
    with pytest.raises(UserError, match=r"cannot run on images of shape \(2, 3, 16, 16\)"):
        attribute(model, images(2, size=16), 1, "gradient")
    with pytest.raises(UserError, match="cannot run on images"):
        pixel_perturbation(model, images(2, size=16), {"m": torch.rand(2, 16, 16)})


class NaNModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        out = self.conv(x).mean((2, 3))
        return out * torch.tensor([float("nan"), 1.0])


def test_a_model_that_produces_nan_is_refused():
    with pytest.raises(UserError, match=r"the model's outputs are not finite .* for 3 of 3 images"):
        attribute(NaNModel().eval(), images(3), None, "gradient")
    with pytest.raises(UserError, match="gradient maps are not finite"):
        attribute(NaNModel().eval(), images(3), 0, "gradient")
    with pytest.raises(UserError, match="not finite"):
        pixel_perturbation(NaNModel().eval(), images(3), {"m": torch.rand(3, 12, 12)})


def test_attribute_step_with_a_nan_model_writes_nothing(tmp_path, monkeypatch):
    from attriflow import steps
    from attriflow.models.training_data import Splits

    data = ImageSet(images=images(4), targets=torch.tensor([0, 1, 0, 1]), task="multiclass", class_names=["a", "b"])
    monkeypatch.setattr(steps, "run_splits", lambda run: (NaNModel().eval(), {"task": "multiclass"}, Splits(data, data, data)))
    out = tmp_path / "maps" / "m.npz"
    assert main(["attribute", "--run", "r", "--method", "gradient", "--out", str(out)]) == 1
    assert not out.exists() and not (tmp_path / "maps").exists()


# --- data -------------------------------------------------------------------------------------------

def test_an_empty_class_is_named_before_training():
    data = ImageSet(images=images(6), targets=torch.tensor([0, 0, 2, 2, 0, 2]), task="multiclass",
                    class_names=["cat", "dog", "cow"])
    with pytest.raises(UserError, match=r"train split: class 'dog' has no images"):
        tasks.check_classes_present("multiclass", data, "run r: the train split")
    one_class = ImageSet(images=images(3), targets=torch.zeros(3, dtype=torch.long), task="binary")
    with pytest.raises(UserError, match="'positive' has no images"):
        tasks.check_classes_present("binary", one_class, "run r")
    empty = ImageSet(images=images(0), targets=torch.zeros(0, dtype=torch.long), task="multiclass")
    with pytest.raises(UserError, match="holds no images"):
        tasks.check_classes_present("multiclass", empty, "run r")


def test_train_run_refuses_an_empty_class_and_writes_nothing(tmp_path):
    from attriflow.models.training import train_run
    from attriflow.models.training_data import Splits

    data = ImageSet(images=images(6), targets=torch.tensor([0, 0, 2, 2, 0, 2]), task="multiclass",
                    class_names=["cat", "dog", "cow"])
    spec = {"model": "resnet8", "dataset": "synthetic", "epochs": 1, "batch_size": 4, "device": "cpu"}
    with pytest.raises(UserError, match="'dog' has no images"):
        train_run(spec, tmp_path / "run", data=Splits(data, data, data))
    assert not (tmp_path / "run" / "model.pt").exists()


def test_missing_dataset_folder_is_named(tmp_path):
    from attriflow.data.loading import load_dataset

    with pytest.raises(UserError, match=r"dataset 'shapes32' reads .*shapes, which does not exist; generate it"):
        load_dataset("shapes32", root=tmp_path / "nowhere")


def test_missing_registered_dataset_path_is_named_and_nothing_written(tmp_path, capsys):
    missing = tmp_path / "no-such-chexpert"
    assert main(["data", "locate", "chexpert", "--path", str(missing), "--root", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    assert str(missing) in err
    assert not (tmp_path / "data" / "chexpert" / "meta.json").exists()
