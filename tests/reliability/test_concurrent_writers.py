"""Two writers of the same output never leave a mixed file: every write is a rename of a complete
temporary file (``attriflow.utils.io``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

WRITER = textwrap.dedent("""
    import sys
    from attriflow.utils.io import atomic_write_text
    path, mark, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for i in range(n):
        atomic_write_text(path, (mark * 100_000 + "\\n") * 4)
""")


def test_readers_see_only_whole_files_while_two_processes_write(tmp_path):
    out = tmp_path / "table.csv"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(out), mark, "200"]) for mark in "ab"]
    seen = set()
    try:
        while any(w.poll() is None for w in writers):
            if out.exists():
                text = out.read_text()
                assert len(text) == 400_004 and len(set(text) - {"\n"}) == 1, "a mixed or partial file was read"
                seen.add(text[0])
    finally:
        for w in writers:
            w.wait()
    assert all(w.returncode == 0 for w in writers)
    assert seen  # the reader did read while they wrote
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]  # no temporary file left behind


def test_two_attriflow_commands_writing_one_output_leave_one_whole_result(tmp_path):
    """Two ``attriflow roar-mask`` runs with different seeds race for one --out: it ends as exactly one of them."""
    images = tmp_path / "images.npz"
    np.savez(images, images=np.random.default_rng(0).random((128, 3, 64, 64), dtype=np.float32))

    def command(seed, out):
        return [sys.executable, "-m", "attriflow.cli", "roar-mask", "--images", str(images), "--random", str(seed),
                "--fraction", "0.5", "--out", str(out)]

    from attriflow.cli import main

    for seed in (1, 2):  # each result alone, for reference (in this process: the same code)
        assert main(command(seed, tmp_path / f"alone{seed}.npz")[3:]) == 0
    raced = tmp_path / "raced.npz"
    procs = [subprocess.Popen(command(seed, raced), stdout=subprocess.DEVNULL) for seed in (1, 2)]
    assert all(p.wait() == 0 for p in procs)
    got = np.load(raced)["images"]
    alone = [np.load(tmp_path / f"alone{seed}.npz")["images"] for seed in (1, 2)]
    assert any(np.array_equal(got, a) for a in alone)
    assert not np.array_equal(alone[0], alone[1])  # the two writers really wrote different files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone1.npz", "alone2.npz", "images.npz", "raced.npz"]
