# attriflow: replication of five interpretability papers.
# Table of contents only: the science is in the attriflow package, the rules wire files together.
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")


# The demo config is the default; a --configfile given on the command line replaces it whole
# (no merge, so paper.yaml never inherits demo runs).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/attribute.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/methods.smk"
include: "workflow/rules/report.smk"


# One rule file per paper: its rules only; each appends its targets to PAPER_OUTPUTS["<id>"].
for _paper_rules in sorted(
    Path(workflow.basedir, "workflow/rules/papers").glob("*.smk")
):

    include: str(_paper_rules)


rule all:
    default_target: True
    input:
        "reports/all",
