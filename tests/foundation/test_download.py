"""Downloader: checksums, resume, move-aside of bad files, and safe extraction, on a loopback server."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from attriflow.data import registry
from attriflow.data.download import ChecksumError, IncompleteDownload, UnsafeArchive, download, extract
from attriflow.errors import UserError

from .http_server import FileServer, serving


def make_tar(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


GOOD = make_tar({"ds/a.txt": b"alpha" * 1000, "ds/sub/b.txt": b"beta"})


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith((".part", ".tmp", ".extracting")) or ".extracting" in p.name)


def test_good_archive_downloads_verifies_and_extracts(tmp_path):
    with serving(**{"good.tar.gz": GOOD}) as srv:
        path = download(f"{srv.url}/good.tar.gz", tmp_path / "good.tar.gz", sha(GOOD), progress=False)
        out = extract(path, tmp_path / "out")
    assert path.read_bytes() == GOOD
    assert (out / "ds" / "a.txt").read_bytes() == b"alpha" * 1000
    assert (out / "ds" / "sub" / "b.txt").read_bytes() == b"beta"
    assert leftovers(tmp_path) == []


def test_verified_file_is_not_downloaded_again(tmp_path):
    with serving(**{"good.tar.gz": GOOD}) as srv:
        download(f"{srv.url}/good.tar.gz", tmp_path / "g", sha(GOOD), progress=False)
        download(f"{srv.url}/good.tar.gz", tmp_path / "g", sha(GOOD), progress=False)
        assert len(srv.requests) == 1


def test_corrupted_file_is_moved_aside_with_both_hashes(tmp_path):
    corrupt = bytearray(GOOD)
    corrupt[100] ^= 0xFF
    with serving(**{"good.tar.gz": bytes(corrupt)}) as srv:
        with pytest.raises(ChecksumError) as err:
            download(f"{srv.url}/good.tar.gz", tmp_path / "good.tar.gz", sha(GOOD), progress=False)
    msg = str(err.value)
    assert hashlib.sha256(GOOD).hexdigest() in msg and hashlib.sha256(bytes(corrupt)).hexdigest() in msg
    assert not (tmp_path / "good.tar.gz").exists()
    assert (tmp_path / "good.tar.gz.bad").read_bytes() == bytes(corrupt)
    assert leftovers(tmp_path) == []


def test_truncated_download_resumes_with_range_request(tmp_path):
    with FileServer() as srv:
        srv.files["/good.tar.gz"] = GOOD
        srv.truncate["/good.tar.gz"] = len(GOOD) // 2
        with pytest.raises(IncompleteDownload, match="rerun to resume"):
            download(f"{srv.url}/good.tar.gz", tmp_path / "good.tar.gz", sha(GOOD), progress=False)
        part = tmp_path / "good.tar.gz.part"
        assert part.stat().st_size == len(GOOD) // 2
        assert not (tmp_path / "good.tar.gz").exists()
        del srv.truncate["/good.tar.gz"]
        download(f"{srv.url}/good.tar.gz", tmp_path / "good.tar.gz", sha(GOOD), progress=False)
        assert srv.requests[-1][1] == f"bytes={len(GOOD) // 2}-"
    assert (tmp_path / "good.tar.gz").read_bytes() == GOOD
    assert not part.exists()


def test_unpublished_checksum_is_recorded_then_enforced(tmp_path):
    with serving(**{"f.bin": b"first"}) as srv:
        download(f"{srv.url}/f.bin", tmp_path / "f.bin", None, progress=False)
        assert (tmp_path / "f.bin.sha256").read_text().split()[0] == hashlib.sha256(b"first").hexdigest()
        (tmp_path / "f.bin").write_bytes(b"tampered")
        with pytest.raises(ChecksumError):
            download(f"{srv.url}/f.bin", tmp_path / "f.bin", None, progress=False)


@pytest.mark.parametrize(
    "name", ["../evil.txt", "ds/../../evil.txt", "/abs/evil.txt"], ids=["parent", "nested-parent", "absolute"]
)
def test_tar_member_outside_target_is_refused_and_nothing_written(tmp_path, name):
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(make_tar({"ok.txt": b"fine", name: b"evil"}))
    with pytest.raises(UnsafeArchive, match="outside the extraction target"):
        extract(archive, tmp_path / "out" / "target")
    assert not (tmp_path / "out" / "target").exists()
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "evil.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tar.gz"]  # no target, temp folder or member


def test_tar_symlink_leaving_target_is_refused(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("link")
        info.type = tarfile.SYMTYPE
        info.linkname = "../../etc/passwd"
        tf.addfile(info)
    archive = tmp_path / "link.tar"
    archive.write_bytes(buf.getvalue())
    with pytest.raises(UnsafeArchive):
        extract(archive, tmp_path / "target")
    assert not (tmp_path / "target").exists()


def test_zip_slip_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("good.txt", "ok")
        zf.writestr("../../zip-evil.txt", "evil")
    archive = tmp_path / "bad.zip"
    archive.write_bytes(buf.getvalue())
    with pytest.raises(UnsafeArchive):
        extract(archive, tmp_path / "target")
    assert not (tmp_path / "target").exists()
    assert not (tmp_path.parent / "zip-evil.txt").exists()


def test_zip_extracts(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("d/x.txt", "x")
    (tmp_path / "a.zip").write_bytes(buf.getvalue())
    assert (extract(tmp_path / "a.zip", tmp_path / "t") / "d" / "x.txt").read_text() == "x"


def test_registry_pins_the_published_mvtec_checksum(tmp_path):
    """Serving a different archive under MVTec's name must fail on the SHA-256 from PAPERS.md."""
    with serving(**{"mvtec.tar.xz": make_tar({"x": b"y"}, "w:xz")}) as srv:
        with pytest.raises(ChecksumError, match="cf4313b13603bec67abb49ca959488f7eedce2a9f7795ec54446c649ac98cd3d"):
            registry.fetch("mvtec-ad", tmp_path, {"mvtec_anomaly_detection.tar.xz": f"{srv.url}/mvtec.tar.xz"}, progress=False)
    assert not (tmp_path / "mvtec-ad" / "meta.json").exists()


def test_fetch_writes_meta_last_after_layout_check(tmp_path, monkeypatch):
    archive = make_tar({"bottle/train/good/000.png": b"png", "bottle/ground_truth/broken/000_mask.png": b"png"}, "w:xz")
    ds = registry.get("mvtec-ad")
    src = ds.sources[0]
    patched = registry.Dataset(**{**ds.__dict__, "sources": (registry.Source(**{**src.__dict__, "checksum": sha(archive)}),)})
    monkeypatch.setitem(registry.registry(), "mvtec-ad", patched)
    with serving(**{"m.tar.xz": archive}) as srv:
        out = registry.fetch("mvtec-ad", tmp_path, {src.filename: f"{srv.url}/m.tar.xz"}, progress=False)
    assert (out / "mvtec_anomaly_detection" / "bottle" / "train" / "good" / "000.png").exists()
    meta = (out / "meta.json").read_text()
    assert hashlib.sha256(archive).hexdigest() in meta


def test_torchvision_checksums_are_pinned():
    mnist = registry.get("mnist")
    assert len(mnist.sources) == 4 and all(s.checksum.startswith("md5:") for s in mnist.sources)
    assert registry.get("cifar10").sources[0].checksum == "md5:c58f30108f718f92721af3b95e74349a"


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(UserError, match="mvtec-ad"):
        registry.get("imagenet-full")
