"""How far the estimate the form shows is from the wall time of `tlcompare run --preset NAME`, on a
quiet machine and beside a CPU hog (two busy-looping processes, as in benchmarks/contention.py).

    python benchmarks/estimate_error.py                           # cpu_quick, quiet then beside the hog
    python benchmarks/estimate_error.py --conditions quiet --json benchmarks/out/estimate-error.json
    python benchmarks/estimate_error.py --dry-run                 # 1 epoch, 1 seed, 5 per class: checks the script

Per condition, each step in its own process with a fresh TLCOMPARE_HOME, as a first-time user
meets them: the throughput probe measured now (in the hog's company when there is one), the
estimate from it (what the New experiment page shows, the worker's start included), then
`tlcompare run --preset NAME` timed start to verdict. Goal: within 30 % in both conditions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from contention import clean_env, load, start_hog, stop_hog  # noqa: E402

GOAL_PERCENT = 30.0
DRY_RUN = ["--epochs", "1", "--seeds", "1", "--sizes", "5"]


def child_estimate(preset: str, extra: list[str]) -> None:
    """Print the estimate for ``tlcompare run --preset preset *extra``, from a probe measured now."""
    from tlcompare.threads import record_wait_policy

    record_wait_policy()  # as the probe's own process does
    from tlcompare.cli import build_parser, spec_from_args
    from tlcompare.data.facts import dataset_facts
    from tlcompare.estimate.runtime import cached_throughput, estimate
    from tlcompare.models import model_info

    spec = spec_from_args(build_parser().parse_args(["run", "--preset", preset, *extra]))
    facts = dataset_facts(spec.dataset, spec.data_root, spec.val_fraction, spec.test_fraction, spec.split_seed)
    tps = {m: cached_throughput(m, spec.image_size, spec.batch_size, spec.device, remeasure=True)
           for m in {r.model for r in spec.runs()}}
    est = estimate(spec, tps, facts.num_classes, facts.n_val, facts.n_test, len(model_info(spec.model).stage_names),
                   worker_running=False, n_images=sum(facts.pool_counts) + facts.n_val + facts.n_test)
    tp = next(iter(tps.values()))
    print(json.dumps({"estimate_seconds": est.seconds, "runs": est.n_runs, "probe_threads": tp.threads,
                      "probe_others_busy_cores": tp.others_busy_cores}))


def condition(name: str, preset: str, extra: list[str]) -> dict:
    env = clean_env()
    hogs = start_hog() if name == "hog" else []
    try:
        before = load()
        with tempfile.TemporaryDirectory(prefix="tlcompare-estimate-") as home:
            env["TLCOMPARE_HOME"] = home
            est = subprocess.run([sys.executable, __file__, "--child", preset, *extra], env=env, capture_output=True,
                                 text=True, check=False)
            if est.returncode != 0:
                raise SystemExit(f"the estimate failed:\n{est.stderr[-2000:]}")
            row = json.loads(est.stdout.strip().splitlines()[-1])
            t0 = time.perf_counter()
            run = subprocess.run([sys.executable, "-m", "tlcompare", "run", "--preset", preset, *extra, "--device", "cpu",
                                  "--out", str(Path(home) / "results.json")], env=env, capture_output=True, text=True,
                                 check=False)
            wall = time.perf_counter() - t0
            if run.returncode != 0:
                raise SystemExit(f"tlcompare run failed:\n{run.stderr[-2000:]}")
            runs = json.loads((Path(home) / "results.json").read_text())["experiments"][0]["runs"]
    finally:
        stop_hog(hogs)
    threads = sorted({r["threads"] for r in runs})
    return {"condition": name, "preset": preset, "extra": extra, **row, "wall_seconds": round(wall, 1),
            "error_percent": round(100 * (row["estimate_seconds"] - wall) / wall, 1), "run_threads": threads,
            "summary": run.stdout.strip().splitlines(), **before}  # the verdict too: the story must hold


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="cpu_quick")
    p.add_argument("--conditions", default="quiet,hog", help="quiet, hog or both (comma separated)")
    p.add_argument("--dry-run", action="store_true", help=f"add {' '.join(DRY_RUN)}: a short check that the script works")
    p.add_argument("--json", help="write the rows here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args, extra = p.parse_known_args()
    if args.child:
        child_estimate(args.child, extra)
        return
    extra = [*extra, *(DRY_RUN if args.dry_run else [])]
    rows = []
    for name in args.conditions.split(","):
        row = condition(name.strip(), args.preset, extra)
        rows.append(row)
        ok = abs(row["error_percent"]) <= GOAL_PERCENT
        print(f"{row['condition']:>5}: estimate {row['estimate_seconds']:.0f} s, wall {row['wall_seconds']:.0f} s, "
              f"error {row['error_percent']:+.0f} % (goal within {GOAL_PERCENT:.0f} %: {'met' if ok else 'missed'}); "
              f"probe on {row['probe_threads']} threads with {row['probe_others_busy_cores']} cores busy, runs on "
              f"{row['run_threads']} threads; load {row['loadavg'][0]} before", flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                               "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
