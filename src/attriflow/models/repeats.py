"""Seed repeats of trained runs: one copy of a run's spec per extra training seed.

A result that depends on training noise is repeated once per seed of a config list (e.g.
``papers.semantic-cxr.seeds``). The run itself is the repeat at its own seed (its ``seed``, else
``train_defaults.seed``, else the config's ``seed``); every other seed ``k`` gets a copy
``<run>-seed<k>``: the same spec with ``seed: k``. A copy whose ``init`` is itself a repeated run
starts from that run's same-seed repeat, so ``cxr-severity-cxr-seed1`` starts from
``cxr-multilabel-seed1``. Runs that do not train (``epochs: 0``, a published network used as it is)
are not repeated: they have one repeat, themselves.

    copies = seed_copies(config["runs"], ids, seeds, config["seed"], config["train_defaults"])
    config["runs"].update(copies)
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from attriflow.errors import UserError
from attriflow.models.spec import DEFAULTS


def copy_id(run: str, seed: int) -> str:
    """The id of ``run``'s repeat at ``seed``."""
    return f"{run}-seed{int(seed)}"


def _setting(runs: Mapping[str, Mapping], defaults: Mapping, run: str, key: str, fallback: Any) -> Any:
    entry = runs[run]
    return entry[key] if key in entry else defaults.get(key, fallback)


def own_seed(runs: Mapping[str, Mapping], run: str, seed: int, defaults: Mapping | None = None) -> int:
    """The seed ``run`` trains with: its own, else ``train_defaults``', else the config's ``seed``."""
    return int(_setting(runs, defaults or {}, run, "seed", seed))


def trains(runs: Mapping[str, Mapping], run: str, defaults: Mapping | None = None) -> bool:
    """Whether ``run`` trains at all (epochs > 0), i.e. whether its result depends on its seed."""
    return int(_setting(runs, defaults or {}, run, "epochs", DEFAULTS["epochs"])) > 0


def repeats(runs: Mapping[str, Mapping], ids: Sequence[str], seeds: Sequence[int], seed: int,
            defaults: Mapping | None = None) -> dict[str, dict[int, str]]:
    """Base run -> {training seed: run id} of every run of ``ids``, ordered by seed: the run itself at
    its own seed, a copy id at every other seed of ``seeds`` (none for a run that does not train)."""
    unknown = [r for r in ids if r not in runs]
    if unknown:
        raise UserError(f"seed repeats of unknown run(s) {', '.join(unknown)} (not in config `runs`)")
    out: dict[str, dict[int, str]] = {}
    for run in dict.fromkeys(ids):
        mine = own_seed(runs, run, seed, defaults)
        ids_by_seed = {mine: run}
        if trains(runs, run, defaults):
            ids_by_seed.update({int(k): copy_id(run, k) for k in seeds if int(k) != mine})
        out[run] = dict(sorted(ids_by_seed.items()))
    return out


def seed_copies(runs: Mapping[str, Mapping], ids: Sequence[str], seeds: Sequence[int], seed: int,
                defaults: Mapping | None = None) -> dict[str, dict]:
    """Copy id -> spec (the run's config entry with ``seed: k``, and ``init`` remapped to the same-seed
    repeat when the init is itself repeated) for every repeat of :func:`repeats` that is not the run
    itself. A copy id that is already a run id is a UserError (rename that run)."""
    table = repeats(runs, ids, seeds, seed, defaults)
    copies: dict[str, dict] = {}
    for run, by_seed in table.items():
        for k, rid in by_seed.items():
            if rid == run:
                continue
            if rid in runs:
                raise UserError(f"run id {rid!r} of config `runs` collides with the seed-{k} repeat of {run!r}; "
                                f"rename that run (ids <run>-seed<k> are reserved for repeats)")
            spec = dict(runs[run])
            spec["seed"] = k
            init = _setting(runs, defaults or {}, run, "init", DEFAULTS["init"])
            if init in table:  # a repeated run: start from its repeat at the same seed (itself at its own seed)
                spec["init"] = table[init].get(k, init)
            copies[rid] = spec
    return copies
