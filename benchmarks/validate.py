"""Validation: the project's own comparison on real offline data, checked against the shapes the
transfer-learning literature reports.

    python benchmarks/validate.py --device cpu --runs out/validate-digits.jsonl      # digits, 3 seeds
    python benchmarks/validate.py --from-runs out/validate-digits.jsonl              # tables only
    python benchmarks/validate.py --dry                                              # seconds: CI
    python benchmarks/validate.py --values '{"tune": "lr", "validation": "within", "image_size": [32, 64]}'

Trains scratch, fine-tune all (freeze 0) and linear probe (freeze all) at every size, one seed at a
time (so an interrupted run still holds every size for the seeds it finished), appending each
finished run to ``--runs`` as one JSON line. Then prints Markdown: test accuracy per size, the
paired gain over scratch, the label multiplier, and four checks:

1. the gain is large at few images and shrinks with more (He et al. 2019; Kornblith et al. 2019);
2. the linear probe is at least as good as fine-tuning at the smallest size;
3. fine-tuning is the best variant at the largest size (Kornblith et al. 2019, Kumar et al. 2022);
4. the label multiplier falls as N grows (Hernandez et al. 2021).

A check says "holds", "does not hold" or "not judged" (a missing size or an interval too wide to
say); this script reports, it does not decide what a failure means.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
import time
from pathlib import Path

import pandas as pd

from tlcompare.analysis import frames as analysis
from tlcompare.analysis import label_multiplier, tuning
from tlcompare.analysis.verdict import best_per_size, comparisons
from tlcompare.report.tables import json_safe

# No augmentation (so the linear probe trains on cached features); each run under the default step
# budget: at least 500 optimizer steps, then until validation accuracy has not improved for 200 steps.
# Validation held_out, named: every table of docs/validation.md up to 2026-12-08 ran under it (the
# default then), so their commands still reproduce them; --values '{"validation": "within"}' runs
# today's default.
DIGITS = {"dataset": "digits", "model": "efficientnet_lite0", "image_size": 32, "sizes": [5, 10, 20],
          "freeze": [0, "all"], "seeds": [0, 1, 2], "budget": "converged", "min_steps": 500, "patience": 200,
          "max_epochs": 300, "augment": "none", "validation": "held_out"}
DRY = {"dataset": "digits", "model": "efficientnet_lite0", "image_size": 16, "sizes": [3, 6], "freeze": [0, "all"],
       "seeds": [0, 1], "budget": "epochs", "epochs": 1}
FINE_TUNE, PROBE = "pretrained, fine-tune all", "pretrained, linear probe"


def train(values: dict, runs_path: Path | None, device: str, log=print) -> list[dict]:
    """Every run of ``values``, seed by seed; each finished run appended to ``runs_path``."""
    from tlcompare.spec import build_spec
    from tlcompare.train.experiment import run_experiment

    out: list[dict] = []
    # tune = "lr-ends" chooses the middle sizes' rates over every seed: those train in one go.
    groups = [list(values["seeds"])] if values.get("tune") == "lr-ends" else [[s] for s in values["seeds"]]
    for seeds in groups:
        seed = seeds[0] if len(seeds) == 1 else ",".join(map(str, seeds))
        spec = build_spec({**values, "seeds": seeds, "device": device})
        started = time.perf_counter()

        def done(run, result, started=started, seed=seed):
            record = result.to_dict() if hasattr(result, "to_dict") else dict(vars(result))
            out.append(record)
            if runs_path is not None:
                with runs_path.open("a") as f:
                    f.write(json.dumps(json_safe(record)) + "\n")
            log(f"  {run.arm} freeze={run.freeze} size={run.size} seed={run.seed}: "
                f"test {record['final'].get('test_acc', float('nan')):.3f} "
                f"({time.perf_counter() - started:.0f} s into seed {seed})")

        run_experiment(spec, on_run_end=done)
    return out


def read_runs(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -- the checks -----------------------------------------------------------------------------------------
def _verdict(ok: bool | None) -> str:
    return "not judged" if ok is None else "holds" if ok else "does not hold"


def checks(frame: pd.DataFrame, multipliers: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(check, result, evidence) for the four literature shapes."""
    out = []
    comp = comparisons(frame)
    best = best_per_size(comp)
    sizes = sorted(best["size"]) if not best.empty else []
    if len(sizes) >= 2:
        first, last = best.iloc[0], best.iloc[-1]
        ok = bool(first["mean_diff"] > last["mean_diff"] and first["mean_diff"] > 0)
        out.append(("gain large at few images, shrinking with more", _verdict(ok),
                    f"best gain {100 * first['mean_diff']:+.1f} pts at {int(first['size'])}/class, "
                    f"{100 * last['mean_diff']:+.1f} pts at {int(last['size'])}/class"))
    else:
        out.append(("gain large at few images, shrinking with more", _verdict(None), "fewer than two sizes"))
    table = analysis.summary(frame)
    acc = {(r["variant"], int(r["size"])): r["mean"] for _, r in table.iterrows()} if not table.empty else {}
    if sizes and (PROBE, sizes[0]) in acc and (FINE_TUNE, sizes[0]) in acc:
        p, f = acc[(PROBE, sizes[0])], acc[(FINE_TUNE, sizes[0])]
        out.append(("linear probe >= fine-tune at the smallest size", _verdict(p >= f),
                    f"{100 * p:.1f} % vs {100 * f:.1f} % at {sizes[0]}/class"))
    else:
        out.append(("linear probe >= fine-tune at the smallest size", _verdict(None), "a variant is missing"))
    if sizes:
        at_top = {v: m for (v, s), m in acc.items() if s == sizes[-1]}
        winner = max(at_top, key=at_top.get)
        out.append(("fine-tune best at the largest size", _verdict(winner == FINE_TUNE),
                    ", ".join(f"{v}: {100 * m:.1f} %" for v, m in sorted(at_top.items(), key=lambda x: -x[1]))
                    + f" at {sizes[-1]}/class"))
    ft = multipliers[(multipliers["variant"] == FINE_TUNE)].sort_values("size") if not multipliers.empty else multipliers
    ks = [(int(r["size"]), r["k"], r["case"], r["k_low"], r["k_high"]) for _, r in ft.iterrows()] if not ft.empty else []
    finite = [(s, k, lo, hi) for s, k, c, lo, hi in ks if c in ("interpolated", "extrapolated") and math.isfinite(k)]
    if len(finite) >= 2:
        falling = all(b[1] <= a[1] for a, b in zip(finite, finite[1:], strict=False))
        out.append(("multiplier (fine-tune all) falls as N grows", _verdict(falling),
                    ", ".join(f"K = {k:.2g}" + ("" if lo != lo else f" [{lo:.2g}, {hi:.2g}]") + f" at {s}/class"
                              for s, k, lo, hi in finite)
                    + ("" if len(finite) == len(ks) else f"; {len(ks) - len(finite)} size(s) without a number")))
    else:
        out.append(("multiplier (fine-tune all) falls as N grows", _verdict(None),
                    f"{len(finite)} size(s) with a number: " + ", ".join(f"{c} at {s}/class" for s, _, c, _, _ in ks)))
    return out


# -- Markdown -------------------------------------------------------------------------------------------
def _md(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def _per_seed_rows(done: list[dict], variants: list[str], sizes: list[int]) -> list[list]:
    """One row per size and variant: each seed's test accuracy and why its run stopped."""
    seeds = sorted({r["seed"] for r in done})
    cell = {(analysis.variant(r["arm"], r.get("freeze")), int(r["size"]), r["seed"]): r for r in done}
    rows = []
    for size in sizes:
        for v in variants:
            found = [cell.get((v, size, seed)) for seed in seeds]
            if not any(found):
                continue
            rows.append([size, v, *("–" if r is None else f"{100 * r['final']['test_acc']:.1f} "
                                    f"({r.get('stop_reason') or '?'})" for r in found)])
    return rows


def report(runs: list[dict]) -> str:
    """The tables and checks, once per resolution (a sweep) of the runs; under tune = "lr", of each arm's
    rate chosen on validation, with the choices listed."""
    resolutions = sorted({r.get("image_size") for r in runs if r.get("image_size")})
    if len(resolutions) < 2:
        return _report_one(runs)
    return "\n\n".join(f"### {size} px\n\n" + _report_one([r for r in runs if r.get("image_size") == size])
                       for size in resolutions)


def _report_one(all_runs: list[dict]) -> str:
    tuned = tuning.choose(all_runs)
    runs = tuned.runs
    frame = analysis.runs_frame(runs)
    done = [r for r in runs if r["status"] == "done"]
    m = label_multiplier.build(frame, analysis.epochs_frame(done), runs=done)
    table = analysis.results_table(frame)
    variants = analysis.variant_order(table["variant"])
    sizes = sorted(int(s) for s in table["size"].unique())
    cell = {(r["variant"], int(r["size"])): r for _, r in table.iterrows()}

    def acc(v, s):
        r = cell.get((v, s))
        if r is None:
            return "–"
        spread = "" if r["n_seeds"] < 2 or r["std"] != r["std"] else f" ± {100 * r['std']:.1f}"
        return f"{100 * r['mean']:.1f}{spread} (n={int(r['n_seeds'])})"

    def gain(v, s):
        r = cell.get((v, s))
        if r is None or r["mean_diff"] != r["mean_diff"]:
            return "–"
        ci = "" if r["ci_low"] != r["ci_low"] else f" [{100 * r['ci_low']:+.1f}, {100 * r['ci_high']:+.1f}]"
        return f"{100 * r['mean_diff']:+.1f}{ci}"

    pre = [v for v in variants if v != "scratch"]
    parts = ["Test accuracy (%), mean ± std over seeds:", "",
             _md(["per class", *variants], [[s, *(acc(v, s) for v in variants)] for s in sizes]), "",
             "Gain over scratch (points, paired on size and seed; 95 % CI over seeds):", "",
             _md(["per class", *pre], [[s, *(gain(v, s) for v in pre)] for s in sizes]), ""]
    if not m.table.empty:
        rows = [[int(r["size"]), r["variant"], f"{100 * r['target_acc']:.1f}",
                 "–" if r["n_star"] != r["n_star"] else f"{r['n_star']:.3g}", f"{r['k']:.3g}",
                 "–" if r["k_low"] != r["k_low"] else f"{r['k_low']:.3g} to {r['k_high']:.3g}", r["case"]]
                for _, r in m.table.sort_values(["size", "variant"]).iterrows()]
        parts += ["Label multiplier (K = n*/N; n* = images per class scratch needs for the variant's accuracy):", "",
                  _md(["N per class", "variant", "variant acc %", "n*", "K", "95 % interval", "case"], rows),
                  "", *m.target_lines, ""]
    else:
        parts += [m.missing, ""]
    if m.time_lines:
        parts += ["Time saved (training seconds to the variant's final validation accuracy):", "",
                  *(f"- {line}" for line in m.time_lines), ""]
    parts += ["Literature shapes:", "", _md(["check", "result", "evidence"], [list(c) for c in checks(frame, m.table)]), ""]
    if tuned.tuned:
        parts += ["Learning rates chosen on validation (mean over seeds; the tables above use these runs):", "",
                  *(f"- {line}" for line in tuned.lines()), ""]
        ends = tuning.ends_summary(tuning.ends_agreement(tuned))
        parts += [ends, ""] if ends else []
    modes = sorted({f"{r.get('validation') or 'held_out'}" for r in all_runs})
    n_val = sorted({(int(r["size"]), r.get("n_val")) for r in runs if r.get("n_val") is not None})
    if n_val:
        parts += [f"Validation: {', '.join(modes)}; validation images per run: "
                  + ", ".join(f"{v} at {s}/class" for s, v in n_val), ""]
    parts += ["Test accuracy (%) per seed, and how each run stopped (`plateau`: validation accuracy stopped "
              "improving; `cap`: the epoch cap; `epochs` or `steps`: the fixed schedule):", "",
              _md(["per class", "variant", *(f"seed {x}" for x in sorted({r["seed"] for r in done}))],
                  _per_seed_rows(done, variants, sizes)), ""]
    epochs = [len(r.get("epochs") or []) for r in all_runs]
    seconds = sum((r.get("final") or {}).get("train_seconds", 0.0) for r in all_runs)
    parts.append(f"{len(all_runs)} runs ({len(runs)} compared); epochs trained {min(epochs)} to {max(epochs)}; "
                 f"{seconds:.0f} s of training in all.")
    return "\n".join(parts)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--runs", help="append each finished run to this JSON-lines file")
    p.add_argument("--from-runs", help="only print the tables of runs saved earlier (--runs)")
    p.add_argument("--values", help="JSON overriding the digits configuration")
    p.add_argument("--dry", action="store_true", help="tiny and fast: checks that the script works, not the shapes")
    p.add_argument("--out", help="also write the Markdown here")
    args = p.parse_args(argv)
    if args.from_runs:
        runs = read_runs(Path(args.from_runs))
    else:
        values = dict(DRY if args.dry else DIGITS, **json.loads(args.values or "{}"))
        path = Path(args.runs) if args.runs else None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        runs = train(values, path, args.device, log=lambda m: print(m, file=sys.stderr, flush=True))
        print(f"trained {len(runs)} runs in {time.perf_counter() - started:.0f} s wall, "
              f"{datetime.date.today().isoformat()}", file=sys.stderr)
    text = report(runs)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
