"""The paper DAG through the real snakemake on miniatures of every real dataset in its shipped format.

``config/paper.yaml`` is used as published with only its sizes overridden (epochs, iterations, item
limits, image size; listed in ``SIZES``, and the test checks nothing else differs): the published
settings run unchanged once the real data is placed. Registration-only sets sit where ``attriflow
data locate`` looks by default (``data/<name>/root``), public ones where ``attriflow data fetch``
puts them, and an "ImageNet" weights file (random, in torchvision's format) where a user places one.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import torchvision
import yaml

from attriflow.models.repeats import seed_copies
from attriflow.utils.io import sha256_file
from tests.data import miniatures
from tests.workflow.test_smoke_run import ROOT, run

pytestmark = pytest.mark.workflow

# The only keys the smoke changes: how much is computed (epochs, iterations, item counts, image
# size), never how. '*' stands for any run id or MKD dataset.
EPOCHS, IMAGE_SIZE, TRAIN_LIMIT, EVAL_LIMIT, ITEMS, ITERATIONS = 1, 32, 24, 4, 4, 2
SIZES = {
    ("runs", "*", "epochs"): EPOCHS, ("runs", "*", "image_size"): IMAGE_SIZE, ("runs", "*", "limit"): TRAIN_LIMIT,
    ("train_defaults", "epochs"): EPOCHS, ("roar", "epochs"): EPOCHS, ("evaluation", "limit"): EVAL_LIMIT,
    ("papers", "semantic-cxr", "dissection", "limit"): ITEMS,
    ("papers", "pathways", "statistics", "images"): ITEMS, ("papers", "pathways", "statistics", "gate_images"): ITEMS,
    ("papers", "pathways", "statistics", "gate_iterations"): ITERATIONS,
    ("papers", "pathways", "sweep", "images"): ITEMS,
    ("papers", "pathways", "decode", "images"): ITEMS, ("papers", "pathways", "decode", "iterations"): ITERATIONS,
    ("papers", "mkd", "detection", "*", "epochs"): EPOCHS, ("papers", "mkd", "detection", "*", "eval_every"): EPOCHS,
    ("papers", "mkd", "detection", "*", "image_size"): IMAGE_SIZE,
    ("papers", "mkd", "detection", "*", "train_limit"): ITEMS, ("papers", "mkd", "detection", "*", "test_limit"): 5 * ITEMS,  # >= 10 classes: each keeps a test image
    ("roar", "seeds"): [0], ("papers", "mkd", "seeds"): [0], ("papers", "semantic-cxr", "seeds"): [0],
    # repeats: the smoke config runs two (tests/workflow)
}
WILDCARD_PARENTS = {("runs",), ("papers", "mkd", "detection")}
EXTRA = ["results/roar/cifar10-resnet8/gradient/50/seed0/metrics.json", "results/roar/cifar10-resnet8/none/0/seed0/metrics.json",
         "results/eval/randomisation/chexpert-multilabel/gradient.csv",
         "results/eval/perturbation/cifar10-resnet8/integrated_gradients.csv"]


def paper_smoke_config(paper: dict) -> dict:
    """``paper`` with only its sizes made tiny; a run of 0 epochs (a pretrained network used as
    published) stays untrained, and image sizes only shrink."""
    cfg = copy.deepcopy(paper)

    def apply(node: dict, path: tuple, value) -> None:
        head, rest = path[0], path[1:]
        for key in (list(node) if head == "*" else [head]):
            if not rest:
                keep = (path[-1] == "epochs" and node.get(key) == 0) or (path[-1] == "image_size" and not node.get(key))
                if not keep:
                    node[key] = value
            elif isinstance(node.get(key), dict):
                apply(node[key], rest, value)

    for path, value in SIZES.items():
        apply(cfg, path, value)
    return cfg


def _diff(a, b, path=()) -> set[tuple]:
    """Paths (run ids and MKD datasets as '*') where two configs differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = set()
        for k in set(a) | set(b):
            key = "*" if path in WILDCARD_PARENTS else k
            out |= _diff(a.get(k), b.get(k), path + (key,))
        return out
    return set() if a == b else {path}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A copy of the working tree, the miniatures in data/, placed weights, the paper-smoke config."""
    work = tmp_path_factory.mktemp("paper") / "attriflow"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        if (ROOT / rel).is_file():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, work / rel)
    for cmd in (["git", "init", "-q"], ["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "snapshot"]):
        run(cmd, work)
    miniatures.build_all(work / "data")
    (work / "weights").mkdir()
    for arch in ("densenet121", "vgg16", "resnet50"):  # the ImageNet-initialised models, and VGG16 as MKD's expert
        torch.save(torchvision.models.get_model(arch).half().state_dict(), work / "weights" / f"{arch}.pth")
    paper = yaml.safe_load((work / "config" / "paper.yaml").read_text())
    (work / "config" / "paper-smoke.yaml").write_text(yaml.safe_dump(paper_smoke_config(paper), sort_keys=False))
    return work


def test_only_sizes_are_overridden():
    paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    changed = _diff(paper, paper_smoke_config(paper))
    assert changed and changed <= set(SIZES)


def test_the_published_config_plans_every_target_on_placed_data(workdir):
    res = run(["snakemake", "-n", "reports/all", *EXTRA, "--configfile", "config/paper.yaml"], workdir)
    planned = res.stdout + res.stderr
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)\s*$", planned, re.M))  # snakemake's job-stats table
    paper = yaml.safe_load((workdir / "config" / "paper.yaml").read_text())
    scxr = paper["papers"]["semantic-cxr"]  # plus the seed copies of the dissected runs (papers.semantic-cxr.seeds)
    copies = seed_copies(paper["runs"], scxr["dissection"]["runs"], scxr["seeds"], paper["seed"], paper["train_defaults"])
    assert len(copies) == 2 * len(scxr["dissection"]["runs"])  # three seeds: two copies of each
    assert int(jobs.get("train", 0)) == len(paper["runs"]) + len(copies), planned[-3000:]
    assert int(jobs.get("locate_registered", 0)) == 4  # chexpert, brixia, imagenet-val, birdsnap
    for rule in ("models_table", "paper_manifest", "index", "roar", "roar_unmodified", "attribute",
                 "evaluate_maps", "evaluate_perturbation"):
        assert int(jobs.get(rule, 0)) >= 1, f"{rule} not planned:\n{planned[-3000:]}"
    assert "fetch_public" not in jobs  # the public miniatures count as fetched (meta.json present)


def test_paper_dag_runs_end_to_end_on_the_miniatures(workdir):
    run(["snakemake", "--cores", "2", "reports/all", *EXTRA, "--configfile", "config/paper-smoke.yaml"], workdir,
        timeout=2400)
    paper = yaml.safe_load((workdir / "config" / "paper.yaml").read_text())
    for run_id, run_cfg in paper["runs"].items():
        metrics = json.loads((workdir / "results" / "models" / run_id / "metrics.json").read_text())
        untrained = run_cfg.get("epochs") == 0  # a pretrained network as published
        assert metrics["scale"] == "paper" and metrics["epochs"] == (0 if untrained else EPOCHS) and metrics["n_test"] > 0
        assert metrics["n_train"] == 0 if untrained else 0 < metrics["n_train"] <= TRAIN_LIMIT
        spec = yaml.safe_load((workdir / "results" / "models" / run_id / "config.yaml").read_text())["spec"]
        assert spec["dataset"] == run_cfg["dataset"] and spec["num_workers"] == paper["train_defaults"]["num_workers"]
    info = json.loads((workdir / "results" / "models" / "chexpert-multilabel" / "metrics.json").read_text())
    assert info["init"]["kind"] == "imagenet"  # the placed weights file was used
    for paper_id in paper["papers"]:  # every listed figure / table exists with the hash the manifest gives
        lines = (workdir / "reports" / paper_id / "all").read_text().splitlines()
        assert lines[0].startswith(f"# attriflow {paper_id} at scale paper")
        for line in lines[1:]:
            digest, path = line.split("  ", 1)
            assert sha256_file(workdir / path) == digest
    index = (workdir / "reports" / "all").read_text()
    assert index.startswith("# attriflow reports at scale paper") and all(f"# attriflow {p} at scale paper" in index for p in paper["papers"])
    for target in EXTRA:
        assert (workdir / target).is_file()
