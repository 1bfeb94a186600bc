"""Downloads with pinned checksums, resume, and archive extraction that stays inside its target.

A download goes to ``<dest>.part``, resumes from there with an HTTP Range request, is checked
against its pinned checksum and only then renamed onto ``<dest>``. A file whose checksum does not
match is moved aside to ``<dest>.bad`` and the error names the expected and actual hash.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from typing import Mapping

from tqdm.auto import tqdm

from attriflow.errors import UserError
from attriflow.utils.io import file_digest

CHUNK = 1 << 20
ALGORITHMS = ("sha256", "md5")


class ChecksumError(UserError):
    """A downloaded file's hash differs from the pinned one."""


class IncompleteDownload(UserError):
    """The server closed the connection before the whole file arrived (rerun to resume)."""


class UnsafeArchive(UserError):
    """An archive member would land outside the extraction target, or the archive would unpack to
    more than the caps allow (a zip or tar bomb)."""


# Caps on what one archive may unpack to: far above the papers' datasets (MVTec AD: ~5,400 files,
# ~5 GB; ImageNet validation: 50,000 files, ~6.4 GB), far below a bomb's petabytes.
MAX_MEMBERS = 1_000_000
MAX_BYTES = 100 * 2**30


def parse_checksum(checksum: str) -> tuple[str, str]:
    """Split ``"sha256:<hex>"`` (or a bare 64-hex SHA-256, or ``"md5:<hex>"``) into (algorithm, hex)."""
    algo, sep, digest = checksum.partition(":")
    if not sep:
        algo, digest = "sha256", checksum
    algo = algo.lower()
    if algo not in ALGORITHMS:
        raise UserError(f"checksum {checksum!r}: algorithm {algo!r} is not one of {ALGORITHMS}")
    expected_len = hashlib.new(algo).digest_size * 2
    if len(digest) != expected_len or any(c not in "0123456789abcdefABCDEF" for c in digest):
        raise UserError(f"checksum {checksum!r}: expected {expected_len} hex digits for {algo}")
    return algo, digest.lower()


def verify(path: str | os.PathLike, checksum: str, name: str | os.PathLike | None = None) -> None:
    """Raise ChecksumError when ``path`` does not match, moving it aside to ``<name>.bad``."""
    path = Path(path)
    name = Path(name) if name else path
    algo, expected = parse_checksum(checksum)
    actual = file_digest(path, algo)
    if actual != expected:
        bad = name.with_name(name.name + ".bad")
        os.replace(path, bad)
        raise ChecksumError(
            f"{name.name}: {algo} mismatch, expected {expected}, got {actual}; "
            f"the file was moved aside to {bad} (delete it and rerun to download again)"
        )


def download(
    url: str,
    dest: str | os.PathLike,
    checksum: str | None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Fetch ``url`` to ``dest`` unless a verified copy is already there; returns ``dest``.

    ``checksum`` pins the bytes (``sha256:<hex>`` or ``md5:<hex>``). ``None`` is allowed only for
    sources that publish no checksum: the hash is then recorded in ``<dest>.sha256`` on first
    download (trust on first use) and checked on every later call.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tofu = dest.with_name(dest.name + ".sha256")
    if checksum is None and tofu.exists():
        checksum = "sha256:" + tofu.read_text().split()[0]
    if dest.exists():
        if checksum is None:
            return dest
        verify(dest, checksum)
        return dest

    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    req_headers = dict(headers or {})
    if have:
        req_headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=req_headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the part file is already complete
            response = None
        else:
            raise UserError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise UserError(f"download of {url} failed: {exc.reason} (is the network reachable?)") from exc

    if response is not None:
        with response:
            resumed = response.status == 206
            mode = "ab" if resumed else "wb"
            done = have if resumed else 0
            length = response.headers.get("Content-Length")
            total = done + int(length) if length is not None else None
            with open(part, mode) as fh, tqdm(
                total=total, initial=done, unit="B", unit_scale=True, desc=dest.name, disable=not progress, leave=False
            ) as bar:
                while True:
                    try:
                        block = response.read(CHUNK)
                    except (ConnectionError, TimeoutError, OSError) as exc:
                        raise IncompleteDownload(
                            f"{url}: connection lost after {done} bytes ({exc}); rerun to resume from {part}"
                        ) from exc
                    if not block:
                        break
                    fh.write(block)
                    done += len(block)
                    bar.update(len(block))
        if total is not None and done < total:
            raise IncompleteDownload(f"{url}: received {done} of {total} bytes; rerun to resume from {part}")

    if checksum is None:
        digest = file_digest(part)
        tofu.write_text(f"{digest}  {dest.name}\n")
    else:
        verify(part, checksum, name=dest)
    os.replace(part, dest)
    return dest


def _member_target(root: Path, name: str) -> Path:
    """Where an archive member named ``name`` lands under ``root``; raise if outside it."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise UnsafeArchive(f"archive member {name!r} points outside the extraction target; refusing to extract")
    target = (root / pure).resolve()
    if not target.is_relative_to(root.resolve()):
        raise UnsafeArchive(f"archive member {name!r} points outside the extraction target; refusing to extract")
    return target


class _Budget:
    """Counts members and unpacked bytes; raises UnsafeArchive past either cap."""

    def __init__(self, archive: Path, max_members: int, max_bytes: int):
        self.archive, self.max_members, self.max_bytes = archive, int(max_members), int(max_bytes)
        self.members = self.bytes = 0

    def add(self, size: int) -> None:
        self.members += 1
        self.bytes += max(int(size), 0)
        if self.members > self.max_members:
            raise UnsafeArchive(f"{self.archive}: more than {self.max_members:,} members (the cap on one archive); "
                                "refusing to extract (raise max_members if the archive is genuine)")
        if self.bytes > self.max_bytes:
            raise UnsafeArchive(f"{self.archive}: unpacks to more than {self.max_bytes:,} bytes (the cap on one "
                                "archive); refusing to extract (raise max_bytes if the archive is genuine)")


def check_archive(archive: str | os.PathLike, max_members: int = MAX_MEMBERS, max_bytes: int = MAX_BYTES) -> list[str]:
    """Names of all members; raise UnsafeArchive for absolute paths, ``..``, links leaving the
    target, devices, or more than ``max_members`` members or ``max_bytes`` unpacked bytes (counted
    from the headers while reading them, so a bomb stops at the cap, before anything is written)."""
    archive = Path(archive)
    root = Path("/nonexistent-root")
    budget = _Budget(archive, max_members, max_bytes)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                _member_target(root, info.filename)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise UnsafeArchive(f"archive member {info.filename!r} is a symbolic link; refusing to extract")
                budget.add(info.file_size)
            return [info.filename for info in infos]
    members = []
    try:
        with tarfile.open(archive) as tf:
            for m in tf:  # streamed: a bomb is stopped at the cap, not read to its end
                budget.add(m.size)
                members.append(m)
    except tarfile.TarError as exc:
        raise UserError(f"{archive}: not a readable tar or zip archive ({exc})") from exc
    for m in members:
        _member_target(root, m.name)
        if m.issym() or m.islnk():
            link = PurePosixPath(m.name).parent / m.linkname if m.issym() else PurePosixPath(m.linkname)
            if PurePosixPath(m.linkname).is_absolute():
                raise UnsafeArchive(f"archive member {m.name!r} links to absolute path {m.linkname!r}; refusing to extract")
            _member_target(root, str(link))
        if m.isdev():
            raise UnsafeArchive(f"archive member {m.name!r} is a device file; refusing to extract")
    return [m.name for m in members]


def extract(archive: str | os.PathLike, target: str | os.PathLike, max_members: int = MAX_MEMBERS,
            max_bytes: int = MAX_BYTES) -> Path:
    """Extract a tar (any compression) or zip archive into ``target`` atomically.

    Every member is checked first (:func:`check_archive`: paths, links, devices, and the caps on
    member count and unpacked size); nothing is written if any member is unsafe. Extraction goes to
    a temporary folder beside ``target`` that is renamed onto it at the end, so an interrupted
    extraction leaves nothing behind. An existing ``target`` is left as it is.
    """
    archive, target = Path(archive), Path(target)
    if target.exists():
        return target
    check_archive(archive, max_members, max_bytes)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".extracting", dir=target.parent))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp)
        else:
            with tarfile.open(archive) as tf:
                tf.extractall(tmp, filter="data")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
