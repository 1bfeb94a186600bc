"""Report of the prunegrad paper (Khakzar et al., arXiv 1911.11081): ROAR, pixel perturbation and sanity
checks of PruneGrad beside the published numbers (``published.yaml``, key ``prunegrad``)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from attriflow.errors import UserError
from attriflow.reporting.papers.claims import Claims
from attriflow.reporting.papers.pathways import evaluation_outputs


def build_report(inputs: Mapping[str, Sequence[str]], out_dir: Path, scale: str) -> None:
    """tables/roar.csv, tables/pixel_perturbation.csv, sanity-check figures, summary.md and claims.csv."""
    from attriflow.reporting.published import published

    if not inputs.get("roar") and not inputs.get("perturbation"):
        raise UserError("prunegrad report: inputs need 'roar' and/or 'perturbation' result files")
    claims = Claims("prunegrad", scale)
    evaluation_outputs(inputs, Path(out_dir), scale, claims, published()["prunegrad"], "prunegrad")
    claims.note("Published: ROAR on CIFAR-10 with ResNet8 (Adam 1e-3, 50 epochs); pixel perturbation on 2000 ImageNet "
                "validation images with ResNet50. Ours: the demo run's shape scenes and small models, so published "
                "values are shown beside ours for direction, not for equality.")
    claims.write(Path(out_dir), "PruneGrad (Khakzar et al., arXiv 1911.11081)",
                 "PruneGrad = pathway gradient with NeuronMCT selection, signed max-magnitude channel reduction.")


__all__ = ["build_report"]
