"""Archives that would write outside their target, through links, or unpack to a bomb: refused,
nothing written."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from attriflow.data.download import UnsafeArchive, extract

MiB = 2**20


def _zip(tmp_path, members: dict[str, bytes], links: dict[str, str] | None = None):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, target)
    return path


def _tar_gz(tmp_path, members: dict[str, bytes], kind=None, linkname=""):
    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if kind is not None:
                info.type, info.linkname = kind, linkname
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def _nothing_written(tmp_path, archive):
    assert sorted(p.name for p in tmp_path.iterdir()) == [archive.name]


def test_zip_bomb_is_stopped_by_the_size_cap(tmp_path):
    archive = _zip(tmp_path, {"zeros.bin": bytes(8 * MiB)})
    assert archive.stat().st_size < 64 * 1024  # compresses > 100x: the shape of a bomb
    with pytest.raises(UnsafeArchive, match="unpacks to more than 1,048,576 bytes"):
        extract(archive, tmp_path / "out" / "t", max_bytes=MiB)
    _nothing_written(tmp_path, archive)


def test_tar_gz_bomb_is_stopped_by_the_size_cap(tmp_path):
    archive = _tar_gz(tmp_path, {"zeros.bin": bytes(8 * MiB)})
    with pytest.raises(UnsafeArchive, match="unpacks to more than"):
        extract(archive, tmp_path / "out" / "t", max_bytes=MiB)
    _nothing_written(tmp_path, archive)


@pytest.mark.parametrize("make", [_zip, _tar_gz], ids=["zip", "tar"])
def test_too_many_members_are_refused(tmp_path, make):
    archive = make(tmp_path, {f"f{i}.txt": b"x" for i in range(30)})
    with pytest.raises(UnsafeArchive, match="more than 10 members"):
        extract(archive, tmp_path / "t", max_members=10)
    _nothing_written(tmp_path, archive)
    assert (extract(archive, tmp_path / "t", max_members=30) / "f29.txt").read_bytes() == b"x"  # at the cap: fine


@pytest.mark.parametrize("name", ["/etc/evil", "../evil", "a/../../evil", "C:/evil"])
def test_zip_absolute_or_parent_paths_are_refused(tmp_path, name):
    archive = _zip(tmp_path, {"ok.txt": b"ok", name: b"evil"})
    with pytest.raises(UnsafeArchive, match="outside the extraction target"):
        extract(archive, tmp_path / "t")
    _nothing_written(tmp_path, archive)


def test_zip_symlink_is_refused(tmp_path):
    archive = _zip(tmp_path, {"ok.txt": b"ok"}, links={"link": "/etc/passwd"})
    with pytest.raises(UnsafeArchive, match="symbolic link"):
        extract(archive, tmp_path / "t")
    _nothing_written(tmp_path, archive)


@pytest.mark.parametrize("kind,linkname", [(tarfile.LNKTYPE, "/etc/passwd"), (tarfile.SYMTYPE, "/etc/passwd"),
                                           (tarfile.LNKTYPE, "../../outside")], ids=["hardlink-abs", "symlink-abs", "hardlink-parent"])
def test_tar_links_leaving_the_target_are_refused(tmp_path, kind, linkname):
    archive = _tar_gz(tmp_path, {"link": b""}, kind=kind, linkname=linkname)
    with pytest.raises(UnsafeArchive):
        extract(archive, tmp_path / "t")
    _nothing_written(tmp_path, archive)
