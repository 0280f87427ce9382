"""Learning rates chosen on validation: which of an arm's grid of rates is its result at each size.

Under ``tune = "lr"`` every arm (scratch, each pretrained depth, the random controls, the small
CNN) trains at a grid of rates at every size and seed (``spec.lr_rates``). At each size, the rate
whose runs have the best mean **validation** accuracy over the seeds (the reported model's,
``final["val_acc"]``) is that arm's result there; its runs are what every comparison reads. Test
accuracy plays no part in the choice. The other rates' runs stay in the store and the exports.

Without a grid (one rate per arm and size) the choice is the identity, so the view applies it to
every experiment. Plain Python and pandas-free: the History headline uses it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tlcompare.text.variants import variant, variant_key

FINISHED = ("done", "diverged")


@dataclass(frozen=True)
class Choice:
    variant: str
    order: tuple = field(repr=False)  # the variant's reading order (variant_key, from its arm and depth)
    size: int
    lr: float
    rates: tuple[float, ...]  # the grid, low to high
    val_acc: float  # mean over the seeds at the chosen rate
    n_seeds: int
    tied: int = 1  # rates whose mean validation accuracy equals the best (the lowest of them is kept)
    # tune = "lr-ends": a size between the two tuned ones trained at one rate, interpolated from their
    # choices; these are those two sizes (the rate was not chosen on this size's validation images).
    between: tuple[int, int] | None = None
    arm: str = field(default="", repr=False)
    freeze: int | str | None = field(default=None, repr=False)

    @property
    def at_edge(self) -> bool:
        """The best rate is the grid's lowest or highest: a rate outside it may be better still. Not
        said of a tie, where the edge was only the tie-break."""
        return len(self.rates) > 2 and self.tied == 1 and self.lr in (self.rates[0], self.rates[-1])

    def sentence(self) -> str:
        """'scratch at 5/class: lr 3.5e-3, best of 4 on validation'."""
        if self.between is not None:
            low, high = self.between
            return (f"{self.variant} at {self.size}/class: lr {rate_text(self.lr)}, interpolated between the choices "
                    f"at {low} and {high}/class")
        text = f"{self.variant} at {self.size}/class: lr {rate_text(self.lr)}, best of {len(self.rates)} on validation"
        if self.tied == len(self.rates):
            return text + f" (all {self.tied} rates tie: validation cannot choose; the lowest is kept)"
        return text + (f" (tied with {self.tied - 1} other rate{'s' if self.tied > 2 else ''}; the lowest is kept)"
                       if self.tied > 1 else "")


@dataclass(frozen=True)
class Tuning:
    runs: list[dict] = field(repr=False)  # every run of the chosen rates (any status), the rest left out
    choices: list[Choice] = field(default_factory=list)  # one per arm and size with more than one rate

    @property
    def tuned(self) -> bool:
        return bool(self.choices)

    def lines(self) -> list[str]:
        """One sentence per arm and size, with a warning where the best rate is at the grid's edge."""
        out = []
        for c in self.choices:
            edge = ""
            if c.at_edge:
                side = "lowest" if c.lr == c.rates[0] else "highest"
                edge = f" (the grid's {side} rate: a {'lower' if side == 'lowest' else 'higher'} one may be better)"
            out.append(c.sentence() + edge)
        return out

    def export_rows(self) -> list[dict]:
        """The choices for the JSON export: per arm and size, the grid, the chosen rate and its score."""
        return [{"variant": c.variant, "size": c.size, "lr": c.lr, "rates": list(c.rates), "val_acc": c.val_acc,
                 "n_seeds": c.n_seeds, "tied": c.tied, "at_edge": c.at_edge,
                 "chosen_on": "validation" if c.between is None else
                 f"interpolated between the choices at {c.between[0]} and {c.between[1]}/class"}
                for c in self.choices]

    def summary(self) -> str:
        """The choices in one caveat line for the verdict; '' without a grid."""
        if not self.choices:
            return ""
        warn = self.edge_warning()
        return ("Learning rates chosen on validation (test accuracy plays no part): " + "; ".join(self.lines()) + "."
                + (f" {warn}" if warn else ""))

    def edge_warning(self) -> str:
        """'2 of 6 chosen rates sit at an edge of their grid: widen it ...', or '' when none does."""
        edges = sum(c.at_edge for c in self.choices if c.between is None)
        chosen = len([c for c in self.choices if c.between is None])
        return (f"{edges} of {chosen} chosen rates sit at an edge of their grid: widen it (lr_scratch, "
                "lr_pretrained move its centre) before trusting those sizes." if edges else "")


def ends_agreement(tuned: Tuning) -> list[dict]:
    """What a cheaper tuning would have chosen: per arm, the rates chosen at the smallest and the largest
    size, interpolated in log size (and log rate) to each size between, snapped to the nearest rate of
    that size's grid, beside the rate that size's own grid chose. One row per arm and middle size
    (arms tuned at three or more sizes); ``agree`` when the two are the same rate. How often they agree
    says whether tuning at the ends only would pick the per-size choice (issue: the ``lr-ends`` mode)."""
    by_variant: dict[str, list[Choice]] = {}
    for c in tuned.choices:
        by_variant.setdefault(c.variant, []).append(c)
    rows = []
    for name, choices in by_variant.items():
        choices = sorted((c for c in choices if c.between is None), key=lambda c: c.size)
        if len(choices) < 3:
            continue
        first, last = choices[0], choices[-1]
        for c in choices[1:-1]:
            rate = _log_interpolated(first, last, c.size)
            nearest = _nearest(c.rates, rate)
            rows.append({"variant": name, "size": c.size, "chosen": c.lr, "interpolated": rate, "nearest": nearest,
                         "agree": nearest == c.lr, "tied": c.tied})
    return rows


def _log_interpolated(first: Choice, last: Choice, size: int) -> float:
    t = (math.log(size) - math.log(first.size)) / (math.log(last.size) - math.log(first.size))
    return math.exp((1 - t) * math.log(first.lr) + t * math.log(last.lr))


def _nearest(rates, rate: float) -> float:
    return min(rates, key=lambda r: abs(math.log(r) - math.log(rate)))


def held_rates(end_runs: list[dict], middle_sizes) -> dict[tuple[str, str], dict[int, float]]:
    """tune = "lr-ends": the rate each size between the smallest and the largest trains at, per arm
    (``(arm, repr(freeze))``): the two ends' choices on validation (``choose``), interpolated in log size
    and log rate, snapped to the nearest rate of the grid (so the run is the same as that grid's run and
    is reused where it exists). An arm missing here had no finished rate at one of its ends."""
    ends: dict[tuple[str, str], list[Choice]] = {}
    for c in choose(end_runs).choices:
        ends.setdefault((c.arm, repr(c.freeze)), []).append(c)
    out = {}
    for key, choices in ends.items():
        choices.sort(key=lambda c: c.size)
        if len(choices) < 2:
            continue
        first, last = choices[0], choices[-1]
        out[key] = {size: _nearest(first.rates, _log_interpolated(first, last, size)) for size in middle_sizes}
    return out


def ends_summary(rows: list[dict]) -> str:
    """'Tuning at the ends only would pick the per-size rate at 5 of 6 middle sizes ...'; '' without rows."""
    if not rows:
        return ""
    agree = sum(r["agree"] for r in rows)
    misses = [f"{r['variant']} at {r['size']}/class: {rate_text(r['nearest'])} instead of {rate_text(r['chosen'])}"
              for r in rows if not r["agree"]]
    return (f"Tuning at the smallest and largest size only (the rate interpolated in log size between their "
            f"choices, the nearest grid rate) would pick the per-size choice at {agree} of {len(rows)} middle "
            f"sizes" + (f"; not at {'; '.join(misses)}." if misses else "."))


def untuned_note(runs: list[dict]) -> str:
    """The caveat of an experiment whose rates were not tuned: each arm's one rate, and how to tune them;
    '' when any arm trained at a grid of rates."""
    rates: dict[str, tuple[tuple, set]] = {}
    for r in runs:
        if r.get("lr") is not None:
            name = variant(r["arm"], r.get("freeze"))
            rates.setdefault(name, (variant_key(r["arm"], r.get("freeze")), set()))[1].add(float(r["lr"]))
    if not rates or any(len(lrs) > 1 for _, lrs in rates.values()):
        return ""
    by_rate: dict[float, list[str]] = {}
    for name, (_, (lr,)) in sorted(rates.items(), key=lambda kv: kv[1][0]):
        by_rate.setdefault(lr, []).append(name.removeprefix("pretrained, "))

    def listed(names: list[str]) -> str:
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"

    said = "; ".join(f"{listed(names)} at {rate_text(lr)}" for lr, names in by_rate.items())
    return (f"Learning rates not tuned: each arm trained at one rate ({said}), so part of a gap may be the rate "
            "rather than the pretraining. Tune them on validation (tune = \"lr\", the form's switch) for a fair fight.")


def rate_text(lr: float) -> str:
    """3.5e-3, 1e-2, 0.1: short and exact to the 2 digits the grid keeps."""
    if lr <= 0 or not math.isfinite(lr):
        return str(lr)
    exponent = math.floor(math.log10(lr))
    mantissa = round(lr / 10**exponent, 1)
    if mantissa >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    if -1 <= exponent <= 0:
        return f"{lr:g}"
    return f"{mantissa:g}e{exponent}"


def _val(run: dict) -> float:
    value = (run.get("final") or {}).get("val_acc") if run.get("status") == "done" else None
    return value if isinstance(value, int | float) and math.isfinite(value) else -math.inf


def _interpolated(groups: dict[tuple, dict[float, list[dict]]], choices: list[Choice]) -> list[Choice]:
    """tune = "lr-ends": the sizes of an arm that trained one rate between two sizes where it chose one."""
    tuned: dict[tuple, list[int]] = {}
    for c in choices:
        tuned.setdefault((c.arm, repr(c.freeze)), []).append(c.size)
    out = []
    for (arm, freeze_key, size), by_rate in groups.items():
        sizes = tuned.get((arm, freeze_key), [])
        if len(by_rate) != 1 or not sizes or not min(sizes) < size < max(sizes):
            continue
        (lr, runs), = by_rate.items()
        vals = [v for v in (_val(r) for r in runs) if v > -math.inf]
        freeze = runs[0].get("freeze")
        out.append(Choice(variant(arm, freeze), variant_key(arm, freeze), size, lr, (lr,),
                          sum(vals) / len(vals) if vals else math.nan, len(vals),
                          between=(min(sizes), max(sizes)), arm=arm, freeze=freeze))
    return out


def choose(runs: list[dict]) -> Tuning:
    """The runs of each arm's best rate per size (by mean validation accuracy over its finished seeds).

    A rate none of whose runs finished cannot win; while no rate of a group has finished, the group
    keeps all its runs' places through its lowest rate, so unfinished pairs are still counted.
    Ties go to the lower rate.
    """
    groups: dict[tuple, dict[float, list[dict]]] = {}
    chosen: list[dict] = [r for r in runs if r.get("damaged")]  # no size to group by; shown as failed, by name
    for r in runs:
        if r.get("damaged"):
            continue
        key = (r["arm"], repr(r.get("freeze")), int(r["size"]))
        groups.setdefault(key, {}).setdefault(float(r.get("lr") or 0.0), []).append(r)
    choices: list[Choice] = []
    for (arm, _, size), by_rate in groups.items():
        rates = tuple(sorted(by_rate))
        if len(rates) == 1:
            chosen += by_rate[rates[0]]
            continue
        scored = []
        for lr in rates:
            vals = [_val(r) for r in by_rate[lr] if r.get("status") in FINISHED]
            done = [v for v in vals if v > -math.inf]
            scored.append((sum(done) / len(done) if done else -math.inf, -lr, lr, len(done)))
        best_val, _, best_lr, n = max(scored)
        if best_val == -math.inf:
            best_lr = rates[0]
        chosen += by_rate[best_lr]
        if best_val > -math.inf:
            first = by_rate[best_lr][0]
            freeze = first.get("freeze")
            tied = sum(abs(v - best_val) < 1e-9 for v, *_ in scored)
            choices.append(Choice(variant(arm, freeze), variant_key(arm, freeze), size, best_lr, rates, best_val, n,
                                  tied, arm=arm, freeze=freeze))
    choices += _interpolated(groups, choices)
    order = {id(r): i for i, r in enumerate(runs)}
    chosen.sort(key=lambda r: order[id(r)])
    choices.sort(key=lambda c: (c.size, c.order))
    return Tuning(chosen, choices)
