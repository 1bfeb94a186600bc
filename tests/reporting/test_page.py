"""The report page and the collected claims, built from a fixture reports tree through the CLI."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from attriflow.cli import main
from attriflow.errors import UserError
from attriflow.reporting.claims import CLAIM_COLUMNS, claims_summary, collect_claims, read_claims
from attriflow.reporting.page import config_hash, read_manifest, rule_times, with_difference

CONFIG = {"scale": "smoke", "device": "cpu", "seed": 0}


def build(tree: Path, expect_rc: int = 0) -> str:
    import json

    manifests = [f"reports/{p}/all" for p in ("alpha", "beta", "gamma")]
    rc = main(["report", "index", "--scale", "smoke", "--seed", "0", "--out", "reports/all", "--page", "reports/index.html",
               "--claims", "reports/claims.csv", "--config-json", json.dumps(CONFIG), "--captions", "workflow/report",
               "--benchmarks", "logs/benchmarks", *manifests])
    assert (rc or 0) == expect_rc
    return (tree / "reports" / "index.html").read_text() if expect_rc == 0 else ""


class Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_page_shows_every_manifest_figure_with_its_caption_and_nothing_else(reports_tree):
    page = build(reports_tree)
    p = Collect()
    p.feed(page)
    imgs = sorted(a["src"] for t, a in p.tags if t == "img")
    listed = sorted(str(f.relative_to("reports")) for m in ("alpha", "beta", "gamma")
                    for f in read_manifest(f"reports/{m}/all") if f.suffix == ".png")
    assert imgs == listed == ["alpha/figures/roar_curve.png", "alpha/figures/sanity.png", "beta/figures/auroc.png"]
    for src in imgs:  # relative to the page, so the folder can be moved or zipped
        assert (reports_tree / "reports" / src).is_file()
    # the caption's Jinja saw the config, and the reStructuredText became HTML
    assert re.search(r"ROAR accuracy drop at scale <strong>smoke</strong>", page)
    assert "Trained models of alpha." in page
    assert "No figure or table of this paper is built yet" in page  # gamma: an empty manifest, said plainly


def test_page_fetches_nothing_from_the_network_and_escapes_summaries(reports_tree):
    page = build(reports_tree)
    p = Collect()
    p.feed(page)
    for tag, attrs in p.tags:
        for key in ("src", "href"):
            assert not re.match(r"(https?:)?//", attrs.get(key) or ""), (tag, attrs)
    assert tag != "script" and not any(t == "script" or t == "link" for t, _ in p.tags)
    assert "<strong>one</strong>" in page and "&lt;script&gt;" in page  # Markdown rendered, raw HTML escaped
    assert "<th>claim</th>" in page  # the summary's Markdown table became a table


def test_published_beside_ours_with_the_difference(reports_tree):
    page = build(reports_tree)
    drops = page.split('id="alpha-drops"')[1].split("</table>")[0]
    assert "<th>ours</th><th>published</th><th>difference</th>" in drops
    assert '<td class="num">0.79</td><td class="num">0.5</td><td class="num">0.29</td>' not in drops  # only 60 rows shown
    assert '<td class="num">0.59</td><td class="num">0.5</td><td class="num">0.09</td>' in drops
    assert "first 60 of 80 rows" in page
    models = with_difference(pd.read_csv(reports_tree / "reports/alpha/tables/models.csv"))
    assert models["difference"].iloc[0] == pytest.approx(0.8 - 95.1) and pd.isna(models["difference"].iloc[1])
    assert "difference" not in with_difference(pd.DataFrame({"ours": ["a"], "published": ["b"]})).columns


def test_claims_collected_and_a_claim_that_does_not_hold_is_shown_as_such(reports_tree):
    page = build(reports_tree)
    claims = pd.read_csv(reports_tree / "reports" / "claims.csv", dtype=str, keep_default_na=False)
    assert list(claims.columns) == CLAIM_COLUMNS and len(claims) == 3
    assert sorted(claims["holds"]) == ["no", "not at this scale", "yes"]
    top = page.split('id="claims"')[1].split("</section>")[0]
    assert "3 claims checked against this run: 1 hold, 1 do not hold, 1 cannot be judged at this scale" in top
    assert '<td class="holds holds-no">no</td>' in top and "pruning keeps accuracy" in top
    summary = claims_summary(claims, ["alpha", "beta", "gamma"]).set_index("paper")
    assert summary.loc["alpha", "no"] == 1 and summary.loc["beta", "not at this scale"] == 1
    assert summary.loc["gamma", "claims"] == 0


def test_bad_claims_file_names_file_column_and_valid_values(tmp_path):
    bad = tmp_path / "claims.csv"
    pd.DataFrame([["p", "c", "m", "1", "2", "s", "maybe", "demo"]], columns=CLAIM_COLUMNS).to_csv(bad, index=False)
    with pytest.raises(UserError, match=r"claims.csv.*'holds'.*maybe.*not at this scale"):
        read_claims(bad)
    pd.DataFrame({"paper": ["p"]}).to_csv(bad, index=False)
    with pytest.raises(UserError, match="lacks column"):
        collect_claims([bad])
    assert list(collect_claims([]).columns) == CLAIM_COLUMNS


def test_provenance_has_commit_config_hash_versions_and_time_per_rule(reports_tree):
    page = build(reports_tree)
    prov = page.split('id="provenance"')[1]
    assert config_hash(CONFIG) in prov and config_hash(CONFIG) != config_hash({**CONFIG, "seed": 1})
    assert "<dt>git commit</dt>" in prov and "torch" in prov and "machine: cores" in prov
    times = rule_times(reports_tree / "logs" / "benchmarks").set_index("rule")
    assert times.loc["train", "jobs"] == 2 and times.loc["train", "total_s"] == pytest.approx(4.0)
    assert times.loc["data", "max_s"] == pytest.approx(4.0)
    assert "8.0 s of job time over 3 jobs" in prov
    assert '<td>train</td><td class="num">2</td>' in prov  # numpy counts are numbers too


def test_empty_tables_are_said_not_drawn(reports_tree):
    import shutil

    shutil.rmtree(reports_tree / "logs")
    pd.DataFrame({"ours": [], "published": []}).to_csv(reports_tree / "reports/alpha/tables/drops.csv", index=False)
    from attriflow.reporting.manifest import write_manifest

    write_manifest("alpha", "smoke", read_manifest("reports/alpha/all"), "reports/alpha/all")  # new hash
    page = build(reports_tree)
    drops = page.split('id="alpha-drops"')[1].split("</h3>")[1].split("<h3")[0]
    assert "<table" not in drops and "0 rows" in drops
    assert "no benchmark files found" in page
    assert all("<tbody></tbody>" not in part for part in page.split("<table")[1:])


def test_a_manifest_listing_a_missing_file_is_an_error(reports_tree, capsys):
    (reports_tree / "reports/beta/figures/auroc.png").unlink()
    build(reports_tree, expect_rc=1)
    assert "reports/beta/all lists reports/beta/figures/auroc.png, which does not exist" in capsys.readouterr().err
