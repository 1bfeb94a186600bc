"""Registration-only datasets: found at a path with a layout check, never downloaded."""

from __future__ import annotations

import json

import pytest

from attriflow.cli import main
from attriflow.data import registry
from attriflow.errors import UserError


def test_missing_registration_only_dataset_says_where_to_get_and_put_it(tmp_path):
    with pytest.raises(UserError) as err:
        registry.locate("chexpert", tmp_path / "nowhere", root=tmp_path / "data")
    msg = str(err.value)
    assert "chexpert" in msg.lower() and "stanfordmlgroup.github.io" in msg and str(tmp_path / "nowhere") in msg
    assert "datasets.chexpert.path" in msg
    assert not (tmp_path / "data" / "chexpert" / "meta.json").exists()


def test_wrong_layout_names_what_is_missing(tmp_path):
    (tmp_path / "brixia").mkdir()
    (tmp_path / "brixia" / "metadata_global_v2.csv").write_text("id\n")
    with pytest.raises(UserError, match=r"dicom_clean/\*"):
        registry.locate("brixia", tmp_path / "brixia", root=tmp_path / "data")


def test_found_dataset_is_linked_and_marked(tmp_path):
    src = tmp_path / "CheXpert-v1.0-small"
    (src / "train" / "patient00001").mkdir(parents=True)
    (src / "train.csv").write_text("Path\n")
    (src / "valid.csv").write_text("Path\n")
    out = registry.locate("chexpert", src, root=tmp_path / "data")
    assert (out / "root").resolve() == src.resolve()
    assert json.loads((out / "meta.json").read_text())["path"] == str(src.resolve())


def test_cli_prints_the_error_without_traceback(tmp_path, capsys):
    assert main(["data", "locate", "imagenet-val", "--path", str(tmp_path / "x"), "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "image-net.org" in err and "Traceback" not in err


def test_public_dataset_is_not_located():
    with pytest.raises(UserError, match="attriflow data fetch mnist"):
        registry.locate("mnist", "/tmp")
