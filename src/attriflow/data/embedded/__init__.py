"""Embedded datasets: generated here, deterministically, with ground truth.

Each generator ``generate(out_dir, seed=0, n=None) -> Path`` writes one ``data/<name>/`` folder
of uncompressed ``.npy`` files and a ``meta.json`` (written last), atomically: the folder is
built beside the target and renamed into place. Same seed, same bytes, on any machine (see
:mod:`attriflow.data.embedded._common` for how). ``n`` overrides the size, for tests.

========== ================================================================================
name       contents
========== ================================================================================
cxr-phantoms chest X-ray phantoms: 14 CheXpert labels, 15 concept masks, BrixIA zones (2,600)
shapes     10 shape classes on clutter with object masks, at 32 px (6,000) and 64 px (3,700)
textures   15 MVTec-AD-named categories, normal train, test with 5 defect kinds and masks
digits     scikit-learn's 1,797 handwritten digits upsampled to 32 px, fixed split
========== ================================================================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from attriflow.data.embedded import cxr, digits, shapes, textures

GENERATORS: dict[str, Callable[..., Path]] = {
    cxr.NAME: cxr.generate,
    shapes.NAME: shapes.generate,
    textures.NAME: textures.generate,
    digits.NAME: digits.generate,
}

VERSIONS: dict[str, int] = {cxr.NAME: cxr.VERSION, shapes.NAME: shapes.VERSION, textures.NAME: textures.VERSION,
                            digits.NAME: digits.VERSION}

__all__ = ["GENERATORS", "VERSIONS"]
