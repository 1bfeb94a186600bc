"""Shared generator machinery: seeded streams, exact image ops, atomic folders, killed runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from attriflow.data.embedded import GENERATORS, _common as C


def test_generators_are_the_four_data_folders():
    assert set(GENERATORS) == {"cxr-phantoms", "shapes", "textures", "digits"}


def test_streams_are_reproducible_and_independent():
    a = C.stream(3, 1, 2).random(5)
    assert np.array_equal(a, C.stream(3, 1, 2).random(5))
    assert not np.array_equal(a, C.stream(3, 1, 3).random(5))
    assert not np.array_equal(a, C.stream(4, 1, 2).random(5))
    with pytest.raises(ValueError):
        C.stream(-1)


def test_pinned_stream_values():
    """numpy's PCG64, SeedSequence, random() and integers() must not change under us: these are data/'s bytes."""
    assert C.stream(0, 1, 0).random(3).tolist() == [0.9453165290142962, 0.41175942424912015, 0.6641401192445894]
    assert C.stream(0).integers(0, 1000, 4).tolist() == [850, 636, 511, 269]


def test_noise_has_unit_variance_and_permutation_is_a_permutation():
    rng = C.stream(0)
    for f in (C.normal, C.noise):
        x = f(rng, 200_000)
        assert abs(x.mean()) < 0.01 and abs(x.std() - 1.0) < 0.01
    p = C.permutation(rng, 100)
    assert sorted(p.tolist()) == list(range(100)) and p.tolist() != list(range(100))
    labels = C.balanced_labels(rng, 103, 10)
    assert np.bincount(labels).min() == 10 and np.bincount(labels).max() == 11


def test_rotation_is_a_unit_vector_within_bounds():
    c, s = C.rotation(C.stream(0), 1000, 0.36)
    assert np.allclose(c * c + s * s, 1.0)
    assert (np.abs(s / c) <= 0.36 + 1e-12).all() and (c > 0).all()
    c, s = C.rotation(C.stream(0), 4000, None)
    assert np.allclose(c * c + s * s, 1.0)
    assert (c < -0.9).any() and (s < -0.9).any() and (s > 0.9).any()  # all four quadrants


def test_blur_and_upsample_keep_constants_and_mass():
    x = np.full((2, 9, 7), 0.3)
    assert np.allclose(C.blur(x, 3), 0.3)
    z = np.zeros((1, 9, 9))
    z[0, 4, 4] = 1.0
    assert C.blur(z, 2).sum() == pytest.approx(1.0)
    g = np.arange(9.0).reshape(1, 3, 3)
    up = C.upsample_bilinear(g, 5, 5)
    assert up[0, 0, 0] == 0 and up[0, -1, -1] == 8 and up[0, 2, 2] == 4  # corners aligned, centre exact


def test_boxes_of_masks():
    m = np.zeros((2, 8, 8), bool)
    m[0, 2:5, 3:7] = True
    b = C.boxes_of(m)
    assert b[0].tolist() == [2, 3, 4, 6] and b[1].tolist() == [-1, -1, -1, -1]


def test_atomic_dir_replaces_only_on_success(tmp_path):
    out = tmp_path / "ds"
    with C.atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("1")
    assert (out / "a.txt").read_text() == "1"
    with pytest.raises(RuntimeError):
        with C.atomic_dir(out) as tmp:
            (tmp / "a.txt").write_text("2")
            raise RuntimeError("crash")
    assert (out / "a.txt").read_text() == "1"  # the old complete folder is untouched
    with C.atomic_dir(out) as tmp:
        (tmp / "b.txt").write_text("3")
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]  # replaced, not merged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no temporary left


def test_failed_generation_leaves_nothing(tmp_path, monkeypatch):
    from attriflow.data.embedded import cxr

    def boom(*args, **kwargs):
        raise MemoryError("simulated crash half-way")

    monkeypatch.setattr(cxr, "pack_masks", boom)
    with pytest.raises(MemoryError):
        cxr.generate(tmp_path / "cxr-phantoms", n=24)
    assert list(tmp_path.iterdir()) == []


def test_killed_generation_leaves_no_partial_dataset(tmp_path):
    """SIGKILL mid-run: the target never exists half-written; the next run removes the leftovers."""
    out = tmp_path / "cxr-phantoms"
    code = textwrap.dedent(f"""
        from attriflow.data.embedded import cxr
        cxr.generate({str(out)!r}, n=2400)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not any(p.name.startswith(".cxr-phantoms.partial-") for p in tmp_path.iterdir()):
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".cxr-phantoms.partial-")]
    assert leftovers, "the generator did not start in time"
    assert not out.exists()
    from attriflow.data.embedded import cxr

    cxr.generate(out, n=24)
    assert (out / "meta.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["cxr-phantoms"]


GOLDEN = {  # sha256 over (relative path, bytes) of every file of a small generation with seed 0
    "cxr-phantoms": (24, "39465b9f2b580f8c286b59bf67321a6252e8f41f100d970429be84ffdb3e1eae"),
    "shapes": (40, "a96803d3cb9e8985f5a040e52426052b5aeca3074ea274db62e25a9e1d740fcf"),
    "textures": (8, "11265c6360da5baf2038c62f867df5bd2475ccd658f6af74bb6594823277f62d"),
    "digits": (200, "9ef8113de8bebf73125377abf4533161c71cdeab1a37a1e9aa98cd4246cca4dd"),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_bytes(name, tmp_path):
    """The generated bytes are pinned: data.dvc must match what a fresh clone generates on any machine.

    If this fails after an intended change of a generator, bump that module's VERSION (the loader
    then asks users to regenerate) and update the hash here; otherwise numpy or the code changed
    the output and that is a bug.
    """
    import hashlib

    n, expected = GOLDEN[name]
    out = GENERATORS[name](tmp_path / name, seed=0, n=n)
    h = hashlib.sha256()
    for p in sorted(out.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(out)).encode())
            h.update(p.read_bytes())
    assert h.hexdigest() == expected
