"""reports/methods from evaluation results: planted orders are ranked as planted, Kendall's tau is
right for agreeing and reversed rankings, published numbers sit beside ours, costs come from
Snakemake benchmark files, and every declared output is written."""

from __future__ import annotations

import itertools
import json
import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from attriflow.evaluation import class_sensitivity, randomisation_test
from attriflow.evaluation.perturbation import COLUMNS as PERTURBATION_COLUMNS
from attriflow.models import create_model
from attriflow.reporting.methods import BENCHMARKS, build_methods_report, kendall, output_names, result_files

RUNS = ["r1", "r2"]
ENTRIES = ["gradient", "edges", "gradient_x_smoothed"]
FRACTIONS = [10, 50]
SEEDS = [0, 1]  # ROAR repeats: planted at -0.02 and +0.02 around each point, so the means are the planted values


def gradient(model, x, target):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(model(x).gather(1, target[:, None]).sum(), x)
    return g.sum(1)


def smoothed(model, x, target):
    return gradient(model, x, target) * F.avg_pool2d(x, 3, 1, 1).sum(1)


def edges(model, x, target):
    """Sobel magnitude of the image: ignores the model and the class, so it fails both sanity checks."""
    kx = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])
    g = F.conv2d(x.mean(1, keepdim=True), torch.stack([kx, kx.T])[:, None], padding=1)
    return g.pow(2).sum(1).sqrt()


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Real randomisation and class-sensitivity outputs, planted perturbation and ROAR numbers, benchmark files."""
    root = tmp_path_factory.mktemp("bench")
    explainers = {"gradient": gradient, "edges": edges, "gradient_x_smoothed": smoothed}
    for i, run in enumerate(RUNS):
        torch.manual_seed(i)
        model = create_model("resnet8", num_classes=5, width=0.5).eval()
        x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(i))
        frames = {"randomisation": randomisation_test(model, x, None, explainers, measures=("ssim",)),
                  "class_sensitivity": class_sensitivity(model, x, explainers, measures=("ssim",))}
        for kind, df in frames.items():
            for entry, part in df.groupby("method"):
                path = root / BENCHMARKS[kind].result.format(run=run, entry=entry)
                path.parent.mkdir(parents=True, exist_ok=True)
                part.to_csv(path, index=False)
        for k, entry in enumerate(ENTRIES):  # planted: LeRF change 0.1, 0.2, 0.3 in ENTRIES order
            rows = [{"image": 0, "method": entry, "order": o, "fraction": f / 100, "removed": f, "p_original": 0.5,
                     "p": 0.5 * (1 - (0.1 * (k + 1) if o == "lerf" else 0.2)), "rel_change": math.nan}
                    for o in ("lerf", "morf") for f in FRACTIONS]
            path = root / BENCHMARKS["perturbation"].result.format(run=run, entry=entry)
            path.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(rows, columns=PERTURBATION_COLUMNS).drop(columns="rel_change").to_csv(path, index=False)
            for seed, noise in zip(SEEDS, (-0.02, 0.02)):
                unmodified = root / f"results/roar/{run}/none/0/seed{seed}/metrics.json"
                unmodified.parent.mkdir(parents=True, exist_ok=True)
                unmodified.write_text(json.dumps({"test": {"accuracy": 0.8 + noise}}))
            for f, (seed, noise) in itertools.product(FRACTIONS, zip(SEEDS, (-0.02, 0.02))):
                # planted ROAR: run r1 ranks ENTRIES in order, run r2 reversed
                acc = 0.3 + 0.1 * (k if run == "r1" else 2 - k) + f / 1000 + noise
                path = root / BENCHMARKS["roar"].result.format(run=run, entry=entry, fraction=f, seed=seed)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps({"test": {"accuracy": acc}}))
                bench = root / f"logs/benchmarks/roar/{run}/{entry}/{f}/seed{seed}.tsv"
                bench.parent.mkdir(parents=True, exist_ok=True)
                bench.write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
                                 f"{2.0 + k}\t0:00:02\t{100 + 10 * k}\t1\t1\t1\t0\t0\t50\t{1.5 + k}\n")
    assert all((root / p).exists() for p in result_files(list(BENCHMARKS), RUNS, ENTRIES, FRACTIONS, SEEDS))
    out = root / "reports/methods"
    written = build_methods_report(ENTRIES, RUNS, FRACTIONS, list(BENCHMARKS), out,
                                   method_of={"gradient": "gradient", "edges": "edges"}, plugins=["gradient_x_smoothed"],
                                   scale="smoke", seed=0, roar_seeds=SEEDS, root=root)
    return root, out, written


def test_every_declared_output_is_written_and_nothing_else(results):
    root, out, written = results
    assert sorted(p.relative_to(out).as_posix() for p in written) == sorted(output_names(list(BENCHMARKS)))


def test_the_model_independent_map_ranks_last_on_both_sanity_checks(results):
    _, out, _ = results
    for kind in ("randomisation", "class_sensitivity"):
        table = pd.read_csv(out / "tables" / f"{kind}.csv")
        for run, part in table.groupby("run"):
            worst = part.sort_values("rank").iloc[-1]
            assert worst["method"] == "edges", (kind, run)
            assert worst["score"] > 0.99  # the edge map does not move at all
            assert (part["direction"] == "lower is better").all()


def test_planted_perturbation_and_roar_orders_and_the_plug_in_row(results):
    _, out, _ = results
    pert = pd.read_csv(out / "tables" / "perturbation.csv")
    assert pert.sort_values(["run", "rank"]).groupby("run")["method"].apply(list).to_dict() == {r: ENTRIES for r in RUNS}
    assert pert["lerf 10%"].round(6).tolist() == pytest.approx([0.1, 0.2, 0.3] * 2)
    roar = pd.read_csv(out / "tables" / "roar.csv")
    r1 = roar[roar.run == "r1"].sort_values("rank")
    assert r1["method"].tolist() == ENTRIES and r1["score"].tolist() == pytest.approx([0.33, 0.43, 0.53])
    assert roar["accuracy 0% (retrained, unmodified)"].tolist() == pytest.approx([0.8] * len(roar))  # mean of the seeds
    assert roar[roar.run == "r2"].sort_values("rank")["method"].tolist() == ENTRIES[::-1]
    plug = roar[roar.method == "gradient_x_smoothed"]
    assert (plug["kind"] == "plug-in").all() and (roar[roar.method != "gradient_x_smoothed"]["kind"] == "built-in").all()
    # PruneGrad's published ROAR accuracy for the gradient at 10% and 50%, beside ours, with its source
    grad = roar[roar.method == "gradient"].iloc[0]
    assert grad["published 10%"] == pytest.approx(0.791) and grad["published 50%"] == pytest.approx(0.8281) and "1911.11081" in grad["published source"]
    assert plug["published 10%"].isna().all()


def test_kendall_tau_is_one_for_agreeing_and_minus_one_for_reversed_rankings(results):
    _, out, _ = results
    stab = pd.read_csv(out / "tables" / "stability.csv")
    roar_runs = stab[(stab.between == "run") & (stab.benchmark == "roar")]
    assert roar_runs["tau"].tolist() == pytest.approx([-1.0])
    pert_runs = stab[(stab.between == "run") & (stab.benchmark == "perturbation")]
    assert pert_runs["tau"].tolist() == pytest.approx([1.0])
    r1 = stab[(stab.between == "benchmark") & (stab.run == "r1")]
    assert set(map(frozenset, zip(r1.a, r1.b))) == {frozenset(p) for p in
                                                   itertools.combinations(BENCHMARKS, 2)}
    pair = r1[(r1.a == "perturbation") & (r1.b == "roar")]
    assert pair["tau"].tolist() == pytest.approx([1.0])


def test_kendall_skips_methods_missing_from_one_ranking():
    ranks = pd.DataFrame({"run": "r", "benchmark": ["a"] * 3 + ["b"] * 2, "method": ["x", "y", "z", "x", "y"],
                          "rank": [1, 2, 3, 2, 1]})
    row = kendall(ranks, "benchmark", "run").iloc[0]
    assert row["methods"] == 2 and row["tau"] == pytest.approx(-1.0)


def test_costs_come_from_the_benchmark_files_and_the_summary_states_directions(results):
    _, out, _ = results
    cost = pd.read_csv(out / "tables" / "cost.csv")
    roar = cost[(cost.stage == "roar") & (cost.run == "r1")].set_index("method")
    assert roar.loc["edges", "wall_s"] == pytest.approx(4 * 3.0) and roar.loc["edges", "jobs"] == 4  # 2 fractions x 2 seeds
    assert roar.loc["gradient_x_smoothed", "peak_rss_mb"] == pytest.approx(120)
    assert cost[cost.stage == "attribute"]["jobs"].eq(0).all()  # none planted: blank, not invented
    text = (out / "summary.md").read_text()
    for kind in BENCHMARKS:
        assert f"- {kind} (lower score is better)" in text
    assert "plug-in: gradient_x_smoothed" in text and "Kendall" in text and "between runs: mean tau" in text
    assert "roar vs perturbation" not in text and "r1 vs r2 (benchmark roar) -1.00" in text
    assert "- edges: roar 24.0 s, peak 110 MB" in text  # 2 runs x 2 fractions x 2 seeds x 3.0 s


def test_png_figures_are_real(results):
    import matplotlib.image

    _, out, _ = results
    for png in (out / "figures").glob("*.png"):
        pixels = matplotlib.image.imread(png)
        assert pixels.shape[0] > 200 and len(pd.unique(pixels.reshape(-1, pixels.shape[-1])[:, 0])) > 10, png.name


def test_a_nan_score_ranks_last():
    from attriflow.reporting.methods import rank

    table = pd.DataFrame({"run": "r", "method": ["a", "b", "c"], "score": [0.5, math.nan, 0.1]})
    assert rank(table, "lower").tolist() == [2, 3, 1] and rank(table, "higher").tolist() == [1, 3, 2]
