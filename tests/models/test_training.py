"""The training loop: it learns, resumes bitwise after a kill, writes loadable outputs, and fails clearly."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
import yaml
from .conftest import make_splits, tiny_spec

from attriflow.cli import main
from attriflow.errors import UserError
from attriflow.models import evaluate, load_run, train_run
from attriflow.models import training as training_module
from attriflow.models.tasks import build_loss
from attriflow.models.training import CHECKPOINT, build_model
from attriflow.models.training_data import Splits


@pytest.fixture(scope="module")
def multiclass():
    return make_splits("multiclass")


def test_loss_falls_and_a_separable_task_is_learned(tmp_path, multiclass):
    result = train_run(tiny_spec(), tmp_path / "run", data=multiclass)
    history = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert list(history["epoch"]) == [1, 2, 3]
    assert history["train_loss"].iloc[-1] < 0.5 * history["train_loss"].iloc[0]
    assert result["test"]["accuracy"] > 0.9 and result["chance"]["accuracy"] == pytest.approx(0.25, abs=0.05)


def test_resume_after_a_kill_ends_with_the_same_weights_bitwise(tmp_path, multiclass):
    spec = tiny_spec(epochs=3, schedule="cosine", model="small_densenet", model_kwargs={"stem": "small"})
    whole = train_run(spec, tmp_path / "whole", data=multiclass)
    killed = tmp_path / "killed"
    assert train_run(spec, killed, data=multiclass, stop_after=1) is None
    assert (killed / CHECKPOINT).is_file() and not (killed / "model.pt").exists()
    assert train_run(spec, killed, data=multiclass, stop_after=1) is None  # epoch 2, killed again
    resumed = train_run(spec, killed, data=multiclass)
    a = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(killed / "model.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["test"] == whole["test"] and resumed["selection"] == whole["selection"]
    cols = ["epoch", "lr", "train_loss", "val_loss", "val_accuracy"]
    pd.testing.assert_frame_equal(pd.read_csv(killed / "metrics.csv")[cols], pd.read_csv(tmp_path / "whole" / "metrics.csv")[cols])
    assert not (killed / CHECKPOINT).exists()


def test_the_seed_decides_the_weights(tmp_path, multiclass):
    runs = [train_run(tiny_spec(epochs=1, seed=s), tmp_path / f"s{i}", data=multiclass) for i, s in enumerate((0, 0, 1))]
    sd = [torch.load(tmp_path / f"s{i}" / "model.pt", weights_only=True)["state_dict"]["fc.weight"] for i in range(3)]
    assert torch.equal(sd[0], sd[1]) and not torch.equal(sd[0], sd[2])
    assert runs[0]["test"] == runs[1]["test"]


def test_outputs_load_with_weights_only_and_rebuild_the_model(tmp_path, multiclass):
    out = tmp_path / "results" / "models" / "shapes-r8"
    result = train_run(tiny_spec(epochs=2), out, data=multiclass)
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "metrics.csv", "metrics.json", "model.pt", "model.pt.sha256"]
    raw = torch.load(out / "model.pt", weights_only=True)
    assert raw["model"] == {"name": "resnet8", "num_classes": 4, "in_chans": 3, "kwargs": {"width": 0.5}}
    assert raw["task"] == "multiclass" and raw["input_size"] == [16, 16] and raw["run"]["seed"] == 0
    model, info = load_run(out)
    assert not model.training and info["class_names"] == ["c0", "c1", "c2", "c3"]
    again = evaluate(model, multiclass.test, "multiclass", build_loss("multiclass", {}, multiclass.train), 64, torch.device("cpu"))
    assert again["accuracy"] == pytest.approx(result["test"]["accuracy"])
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["run"] == "shapes-r8" and saved["selection"]["metric"] == "accuracy" and saved["seed"] == 0
    assert set(saved["versions"]) >= {"torch", "torchvision"} and saved["git_commit"]
    # timings differ run to run: they are in metrics.json, never in the CSV a rerun must reproduce
    assert [t["epoch"] for t in saved["timing"]] == [1, 2] and all(t["train_seconds"] > 0 for t in saved["timing"])
    assert not {"train_seconds", "images_per_second"} & set(pd.read_csv(out / "metrics.csv").columns)
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["spec"]["model"] == "resnet8" and config["provenance"]["init"]["kind"] == "random"


def test_a_corrupted_checkpoint_is_a_clear_error(tmp_path, multiclass):
    out = tmp_path / "run"
    train_run(tiny_spec(), out, data=multiclass, stop_after=1)
    ckpt = out / CHECKPOINT
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    with pytest.raises(UserError, match=r"checkpoint\.pt: not a readable checkpoint.*delete it"):
        train_run(tiny_spec(), out, data=multiclass)


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path, multiclass):
    out = tmp_path / "run"
    train_run(tiny_spec(lr=0.01), out, data=multiclass, stop_after=1)
    train_run(tiny_spec(lr=0.02), out, data=multiclass)
    history = pd.read_csv(out / "metrics.csv")
    assert list(history["epoch"]) == [1, 2, 3] and history["lr"].iloc[0] == pytest.approx(0.02)


def test_finetune_a_grey_regression_model_from_a_multilabel_run(tmp_path):
    """The pretraining study: an RGB multi-label run initialises a grey regression model; head replaced."""
    runs = tmp_path / "models"
    train_run(tiny_spec(epochs=1, task="multilabel"), runs / "pre", data=make_splits("multilabel"))
    source = torch.load(runs / "pre" / "model.pt", weights_only=True)["state_dict"]
    splits = make_splits("regression", channels=1)
    spec = tiny_spec(task="regression", init="pre", loss={"weighted": True}, epochs=4)
    from attriflow.models.spec import normalise_spec

    model, report = build_model(normalise_spec(spec), "regression", splits.train, runs)
    assert report["kind"] == "run" and report["adapted"] == 1 and report["reset"] == 2 and len(report["sha256"]) == 64
    assert torch.equal(model.layer3[0].conv2.weight, source["layer3.0.conv2.weight"])
    assert torch.allclose(model.conv1.weight, source["conv1.weight"].sum(1, keepdim=True))
    assert model.fc.weight.shape == (1, 32) and model.fc.bias.item() == pytest.approx(splits.train.targets.mean().item())
    result = train_run(spec, runs / "ft", data=splits)
    assert result["test"]["mae"] < 0.8 * result["chance"]["mae"]
    assert yaml.safe_load((runs / "ft" / "config.yaml").read_text())["provenance"]["init"]["kind"] == "run"


def test_zero_epochs_keeps_the_initial_weights_and_needs_no_train_split(tmp_path, multiclass):
    """A pretrained network used as published (the ImageNet runs): nothing trained, its own test metrics."""
    runs = tmp_path / "models"
    source = train_run(tiny_spec(epochs=1), runs / "pre", data=multiclass)
    no_train = Splits(multiclass.val, multiclass.val, multiclass.test)  # what load_splits gives
    result = train_run(tiny_spec(epochs=0, init="pre"), runs / "as-is", data=no_train)
    before = torch.load(runs / "pre" / "model.pt", weights_only=True)["state_dict"]
    after = torch.load(runs / "as-is" / "model.pt", weights_only=True)["state_dict"]
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert result["epochs"] == 0 and result["n_train"] == 0 and result["selection"]["epoch"] == 0
    assert result["test"]["accuracy"] == pytest.approx(source["test"]["accuracy"])
    with pytest.raises(UserError, match="'epochs' is 0 .* 'init' is random"):
        train_run(tiny_spec(epochs=0), runs / "untrained", data=multiclass)


def test_a_view_without_train_split_trains_only_with_zero_epochs(monkeypatch):
    from attriflow.data import loading
    from attriflow.models.training_data import load_splits
    from attriflow.models.spec import normalise_spec

    val = make_splits("multiclass").val
    monkeypatch.setattr(loading, "view_splits", lambda name: ("val", "test"))
    monkeypatch.setattr(loading, "load_dataset", lambda name, **kw: val)
    splits = load_splits(normalise_spec(tiny_spec(dataset="imagenet-val", epochs=0, init="imagenet")))
    assert splits.train is val and splits.val is val
    with pytest.raises(UserError, match="'imagenet-val' has no train split .* set the run's epochs to 0"):
        load_splits(normalise_spec(tiny_spec(dataset="imagenet-val", epochs=1, init="imagenet")))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback")
def test_cuda_request_falls_back_to_the_cpu(tmp_path, multiclass, capsys):
    assert training_module.pick_device("auto").type == "cpu"
    result = train_run(tiny_spec(epochs=1, device="cuda"), tmp_path / "run", data=multiclass)
    assert result["device"] == "cpu" and "no CUDA device" in capsys.readouterr().err


def test_task_mismatch_is_an_error(tmp_path, multiclass):
    with pytest.raises(UserError, match="spec task 'regression' but the train set .* is a 'multiclass' task"):
        train_run(tiny_spec(task="regression"), tmp_path / "run", data=multiclass)


def test_cli_train_with_a_spec_file(tmp_path, monkeypatch, capsys):
    splits = make_splits("binary")
    monkeypatch.setattr(training_module, "load_splits", lambda spec: splits)
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(tiny_spec(dataset="cxr-weak", task="binary", loss={"neg_weight": 3.17}, epochs=2)))
    out = tmp_path / "results" / "models" / "weak"
    assert main(["train", "--spec", str(spec_file), "--out", str(out), "--stop-after-epochs", "1"]) == 0
    assert (out / CHECKPOINT).is_file()
    assert main(["train", "--spec-json", spec_file.read_text(), "--out", str(out), "--threads", "1"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "binary" and metrics["test"]["auc"] > 0.9 and metrics["dataset"] == "cxr-weak"
    assert "weak: test auc" in capsys.readouterr().out


def test_cli_errors_and_model_list(tmp_path, capsys):
    assert main(["train", "--spec-json", "{not json", "--out", str(tmp_path / "x")]) == 1
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["train", "--spec-json", json.dumps({"model": "resnet9", "dataset": "shapes32"}), "--out", str(tmp_path / "x")]) == 1
    assert "unknown model 'resnet9'" in capsys.readouterr().err
    assert main(["models"]) == 0
    listed = capsys.readouterr().out
    assert "resnet8" in listed and "mkd_cloner" in listed and "densenet121" in listed
