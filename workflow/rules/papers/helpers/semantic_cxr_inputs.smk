# Seed repeats of the semantic-cxr rules (workflow/rules/papers/semantic-cxr.smk).


def scxr_seeds():
    """Training seeds of the dissected models (papers.semantic-cxr.seeds)."""
    return seeds_of(SCXR)


def scxr_repeats():
    """Base run -> {seed: run id} of every dissected run: itself at its own seed, a copy
    <run>-seed<k> at every other seed (runs with epochs 0 are not repeated)."""
    from attriflow.models.repeats import repeats

    return repeats(
        config["runs"],
        SCXR_DISSECT["runs"],
        scxr_seeds(),
        config["seed"],
        config["train_defaults"],
    )


def scxr_add_copies():
    """Add the seed copies to config `runs` (once, at parse time) so `train` builds them; the
    paper's models table lists only papers.semantic-cxr.runs."""
    from attriflow.models.repeats import seed_copies

    copies = seed_copies(
        config["runs"],
        SCXR_DISSECT["runs"],
        scxr_seeds(),
        config["seed"],
        config["train_defaults"],
    )
    config["runs"].update(copies)
    return copies


def scxr_ids(bases):
    """Every repeat id (base runs and their copies) of the given base runs."""
    return [rid for b in bases for rid in SCXR_REPEATS.get(b, {0: b}).values()]


def scxr_pattern(ids):
    return "|".join(map(re.escape, ids)) or "none"
