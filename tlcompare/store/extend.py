"""What ``submit --into`` may change in an experiment that exists: its grid, never its recipe.

The runs of one experiment are averaged over seeds and paired by size and seed, so every run must
share everything else: a run trained for 2 epochs added to runs trained for 1 would be averaged
with them and paired with them as if it were one more seed. Adding to an experiment may therefore
only add training-set sizes, freezing depths and seeds; any other difference is refused with what
differs (a new experiment holds it, and reuses whatever runs it shares with this one).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING

from tlcompare.errors import UserError
from tlcompare.text.escape import printable

if TYPE_CHECKING:
    from tlcompare.spec import ExperimentSpec

# The grid an experiment may grow along; ``name`` is a label and ``device`` is left out of every
# run's hash (where a run trains does not change what it measures).
EXTENDABLE = ("sizes", "freeze", "seeds")
IGNORED = ("name", "device")


def _plain(value):
    return json.loads(json.dumps(value))  # tuples and lists compare equal


def extended_spec(experiment_id: int, stored: dict, new: ExperimentSpec) -> ExperimentSpec:
    """The stored spec with ``new``'s sizes, depths and seeds added; a UserError naming every other
    setting that differs."""
    from tlcompare.spec import MAX_RUNS, spec_from_dict
    from tlcompare.text.variants import depth_order

    old = spec_from_dict(stored)
    before, after = old.to_dict(), new.to_dict()
    changed = [k for k in sorted(set(before) | set(after))
               if k not in EXTENDABLE + IGNORED and _plain(before.get(k)) != _plain(after.get(k))]
    if changed:
        what = ", ".join(f"{k} ({_shown(before.get(k))} there, {_shown(after.get(k))} here)" for k in changed[:6])
        more = f" (and {len(changed) - 6} more)" if len(changed) > 6 else ""
        raise UserError(
            f"--into {experiment_id} adds sizes, freezing depths and seeds only, and this spec differs from "
            f"experiment {experiment_id} in {what}{more}: its runs would be averaged and paired with runs trained "
            "another way; submit without --into for a new experiment (it reuses every run the two share)")
    if old.tune == "lr-ends" and len(set(old.sizes) | set(new.sizes)) > 2:
        # Its middle sizes trained at rates chosen from its end grids; a new size, seed or depth would
        # move the ends or the choices those runs were given.
        raise UserError(
            f"--into {experiment_id}: an experiment tuned at its smallest and largest size only (tune = \"lr-ends\") "
            "cannot grow: its middle sizes trained at rates chosen from those ends; submit without --into for a new "
            "experiment (it reuses every run the two share)")
    merged = replace(
        old,
        sizes=tuple(sorted(set(old.sizes) | set(new.sizes))),
        seeds=tuple(sorted(set(old.seeds) | set(new.seeds))),
        freeze=tuple(sorted(set(old.freeze) | set(new.freeze), key=depth_order)),
    )
    n = len(merged.planned_runs())
    if n > MAX_RUNS:
        raise UserError(f"--into {experiment_id}: the experiment would hold {n:,} runs; at most {MAX_RUNS:,}: "
                        "add fewer sizes, seeds or freezing depths")
    return merged


def _shown(value) -> str:
    if value is None:
        return "the default"
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return printable(text, 80)
