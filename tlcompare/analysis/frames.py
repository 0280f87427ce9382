"""From run records to the tables that answer the question: plain pandas in, pandas out.

A run record is the dict form of a RunResult (``arm, size, seed, freeze, final, epochs, ...``),
whether it came from ``tlcompare run``'s JSON or from the store.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from tlcompare.analysis.paired_stats import t_interval
from tlcompare.text.variants import depth_order, variant, variant_order  # noqa: F401 (variant_order: analysis's API)

RUN_COLUMNS = ["arm", "variant", "size", "seed", "freeze", "model", "status", "trainable_params", "total_params", "n_train",
               "test_correct", "budget", "steps_done", "epochs_done", "stop_reason", "machine", "threads", "reused_from"]


def runs_frame(runs: list[dict]) -> pd.DataFrame:
    """One row per run with its final metrics."""
    rows = []
    for r in runs:
        row = {k: r.get(k) for k in RUN_COLUMNS if k != "variant"}
        row["variant"] = variant(r["arm"], r.get("freeze"))
        row["freeze"] = "" if r.get("freeze") is None else str(r["freeze"])  # the text tables show and group by
        row.update(r.get("final") or {})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=None if rows else [*RUN_COLUMNS, "test_acc", "train_seconds"])
    # The depth as data (3, "all" or None), for ordering and naming: never read back from the text.
    frame["depth"] = pd.Series([r.get("freeze") for r in runs], index=frame.index, dtype=object)
    return frame


def epochs_frame(runs: list[dict]) -> pd.DataFrame:
    """One row per run and epoch (long format, for learning curves and CSV export)."""
    records = [e for r in runs for e in r.get("epochs", [])]
    if not records:
        return pd.DataFrame()
    # Built a column at a time (each run's fields repeated over its epochs), not a dict per epoch: a
    # 320-run experiment has 16,000 epoch rows.
    base = pd.DataFrame(
        [{"arm": r["arm"], "variant": variant(r["arm"], r.get("freeze")), "size": r["size"], "seed": r["seed"],
          "freeze": "" if r.get("freeze") is None else str(r["freeze"]), "model": r.get("model"),
          "status": r.get("status")} for r in runs],
        columns=["arm", "variant", "size", "seed", "freeze", "model", "status"])
    base = base.loc[base.index.repeat([len(r.get("epochs", [])) for r in runs])].reset_index(drop=True)
    epochs = pd.DataFrame(records)
    return pd.concat([base.drop(columns=[c for c in base if c in epochs]), epochs], axis=1)


def summary(frame: pd.DataFrame, metric: str = "test_acc") -> pd.DataFrame:
    """Mean, standard deviation and 95 % CI across seeds per variant and size."""
    if frame.empty:
        return pd.DataFrame()
    done = frame[frame["status"] == "done"]
    rows = []
    for (var, size), g in done.groupby(["variant", "size"], sort=True):
        vals = g[metric].to_numpy(dtype=float)
        half, sd = t_interval(vals)
        rows.append({"variant": var, "size": int(size), "n_seeds": len(vals), "mean": float(vals.mean()),
                     "std": sd, "ci95": half, "min": float(vals.min()), "max": float(vals.max()),
                     "train_seconds": float(g["train_seconds"].mean()),
                     "trainable_params": int(g["trainable_params"].iloc[0])})
    return pd.DataFrame(rows)


def paired_runs(frame: pd.DataFrame):
    """Each non-scratch variant and size with its finished runs and the scratch runs of the same
    size and seeds, aligned row by row: ``(variant, size, variant_rows, scratch_rows)``, both indexed
    by (size, seed)."""
    if frame.empty:
        return
    done = frame[frame["status"] == "done"]
    is_scratch = (done["arm"] == "scratch").to_numpy()
    scratch = done[is_scratch].set_index(["size", "seed"])
    others = done[~is_scratch]
    if scratch.empty or others.empty:
        return
    if not scratch.index.is_unique:  # not one scratch run per size and seed: pair as the index says
        yield from _paired_runs_by_index(others, scratch)
        return
    # One lookup for every row instead of an index intersection per group: the Results page pairs
    # hundreds of runs several times per view (verdict, table, multiplier).
    where = {key: i for i, key in enumerate(scratch.index)}
    match = np.fromiter((where.get(key, -1) for key in zip(others["size"], others["seed"], strict=True)), dtype=np.int64,
                        count=len(others))
    others = others[match >= 0].set_index(["size", "seed"], drop=True)
    partner = scratch.iloc[match[match >= 0]].set_axis(others.index)
    groups = others.groupby([others["variant"].to_numpy(), others.index.get_level_values("size")], sort=True).indices
    for var, size in sorted(groups):
        rows = groups[(var, size)]
        yield var, int(size), others.iloc[rows], partner.iloc[rows]


def _paired_runs_by_index(others: pd.DataFrame, scratch: pd.DataFrame):
    for (var, size), g in others.groupby(["variant", "size"], sort=True):
        g = g.set_index(["size", "seed"])
        common = g.index.intersection(scratch.index)
        if len(common):
            yield var, int(size), g.loc[common], scratch.loc[common]


def paired_differences(frame: pd.DataFrame, metric: str = "test_acc", pairs: list | None = None) -> pd.DataFrame:
    """Each other variant minus scratch, paired on the same size and seed (same subset, same schedule).

    Pairing removes the subset-to-subset variation that both arms share, so the interval is on
    the difference itself, not on two overlapping bands. The interval covers seed-to-seed
    variation with the test set held fixed; ``tlcompare.analysis.verdict`` adds the test over test images.
    """
    rows = []
    for var, size, runs, scratch in paired_runs(frame) if pairs is None else pairs:  # pairs: paired_runs(frame), kept
        diffs = (runs[metric] - scratch[metric]).to_numpy(dtype=float)
        half, sd = t_interval(diffs)
        p = float(stats.ttest_1samp(diffs, 0.0).pvalue) if len(diffs) >= 2 and sd > 0 else float("nan")
        rows.append({"variant": var, "size": size, "n_pairs": len(diffs), "mean_diff": float(diffs.mean()),
                     "std": sd, "ci95": half, "ci_low": float(diffs.mean() - half), "ci_high": float(diffs.mean() + half),
                     "p_value": p})
    return pd.DataFrame(rows)


# -- tables for the dashboard and the report --------------------------------------------------------
def results_table(frame: pd.DataFrame, metric: str = "test_acc", diffs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per variant and size: accuracy over seeds, the paired gain over scratch with its 95 % CI,
    trainable parameters and seconds per run. The one table that answers the question."""
    table = summary(frame, metric)
    if table.empty:
        return table
    diffs = paired_differences(frame, metric) if diffs is None else diffs  # diffs: of this frame and metric
    if not diffs.empty:
        table = table.merge(diffs[["variant", "size", "n_pairs", "mean_diff", "ci_low", "ci_high", "p_value"]],
                            on=["variant", "size"], how="left")
    else:
        table = table.assign(n_pairs=np.nan, mean_diff=np.nan, ci_low=np.nan, ci_high=np.nan, p_value=np.nan)
    order = {v: i for i, v in enumerate(variant_order(table["variant"]))}
    table = table.sort_values(["size", "variant"], key=lambda c: c.map(order) if c.name == "variant" else c)
    return table.reset_index(drop=True)


def depth_summary(frame: pd.DataFrame, metric: str = "test_acc") -> pd.DataFrame:
    """Accuracy per freezing depth and size (pretrained runs), plus scratch as the reference."""
    done = frame[(frame["status"] == "done") & frame["arm"].isin(["pretrained", "scratch"])]
    rows = []
    for (arm, freeze, size), g in done.groupby(["arm", "freeze", "size"], sort=True):
        vals = g[metric].to_numpy(dtype=float)
        half, sd = t_interval(vals)
        rows.append({"arm": arm, "freeze": freeze if arm == "pretrained" else "scratch", "size": int(size),
                     "depth": g["depth"].iloc[0] if arm == "pretrained" else None,
                     "n_seeds": len(vals), "mean": float(vals.mean()), "std": sd, "ci95": half,
                     "trainable_params": int(g["trainable_params"].iloc[0])})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["depth"] = pd.Series([r["depth"] for r in rows], index=out.index, dtype=object)
    out["order"] = [depth_order(d) for d in out["depth"]]
    return out.sort_values(["size", "order"]).drop(columns="order").reset_index(drop=True)


def learning_curves(epochs: pd.DataFrame, metrics=("train_acc", "val_acc")) -> pd.DataFrame:
    """Mean and range (min to max) across seeds per variant, size, epoch and metric, with the mean
    seconds of training reached by that epoch (for per-second curves)."""
    if epochs.empty:
        return pd.DataFrame(columns=["variant", "size", "epoch", "metric", "mean", "low", "high", "seconds", "n"])
    # Grouped in pandas, not in a Python loop per group: an experiment of 320 runs x 50 epochs has
    # 1,600 groups, and the Results page builds this on its first view.
    keys = ["variant", "size", "epoch"]
    by = [epochs[k] for k in keys]
    seconds = epochs["elapsed_train_seconds"].astype(float).groupby(by, sort=True).mean()
    parts = []
    for order, m in enumerate(metrics):
        vals = pd.to_numeric(epochs[m], errors="coerce").astype(float).replace([np.inf, -np.inf], np.nan)
        agg = vals.groupby(by, sort=True).agg(["mean", "min", "max", "count"])
        agg = agg[agg["count"] > 0].rename(columns={"min": "low", "max": "high", "count": "n"})
        agg["metric"], agg["order"] = m, order
        agg["seconds"] = seconds.reindex(agg.index)
        parts.append(agg.reset_index())
    out = pd.concat(parts, ignore_index=True).sort_values([*keys, "order"], kind="stable")
    out["size"], out["epoch"], out["n"] = out["size"].astype(int), out["epoch"].astype(int), out["n"].astype(int)
    return out[["variant", "size", "epoch", "metric", "mean", "low", "high", "seconds", "n"]].reset_index(drop=True)


DEFAULT_TARGET_ACC = 0.8  # experiments stored before the spec had a target


def default_target(spec: dict) -> float:
    """The validation accuracy that time to target aims at: set in the spec before any result exists,
    so adding runs never moves it."""
    return float(spec.get("target_acc") or DEFAULT_TARGET_ACC)


def time_to_target(epochs: pd.DataFrame, target: float, metric: str = "val_acc") -> pd.DataFrame:
    """Per run: the training seconds (and epoch) at which ``metric`` first reached ``target``.

    Validation accuracy by default: the test set stays for the final answer only. NaN where the
    run never did. Training seconds exclude evaluation, so arms compare on the work the optimiser
    did, not on how often they were evaluated.
    """
    keys = ["variant", "arm", "size", "seed", "freeze"]
    ordered = epochs.sort_values([*keys, "epoch"], kind="stable")
    last = ordered.drop_duplicates(keys, keep="last").set_index(keys)["elapsed_train_seconds"]
    first = ordered[ordered[metric] >= target].drop_duplicates(keys, keep="first").set_index(keys)
    rows = []
    for (var, arm, size, seed, freeze), total in last.sort_index().items():
        hit = first.loc[(var, arm, size, seed, freeze)] if (var, arm, size, seed, freeze) in first.index else None
        rows.append({"variant": var, "arm": arm, "size": int(size), "seed": int(seed), "freeze": freeze,
                     "seconds": float(hit["elapsed_train_seconds"]) if hit is not None else float("nan"),
                     "epoch": int(hit["epoch"]) if hit is not None else None,
                     "total_seconds": float(total)})
    return pd.DataFrame(rows)


def time_to_target_summary(per_run: pd.DataFrame) -> pd.DataFrame:
    """Median seconds to the target over the seeds that reached it, and how many did, per variant and size."""
    rows = []
    for (var, size), g in per_run.groupby(["variant", "size"], sort=True):
        reached = g["seconds"].dropna()
        rows.append({"variant": var, "size": int(size), "n_runs": len(g), "n_reached": len(reached),
                     "median_seconds": float(reached.median()) if len(reached) else float("nan")})
    return pd.DataFrame(rows)


TIME_COLUMNS = ["variant", "n_runs", "total_seconds", "seconds_per_run", "images_per_sec", "steps",
                "seconds_per_step", "machine"]


def timing_machine(frame: pd.DataFrame) -> str | None:
    """The machine (device and thread count, as recorded by each run) that trained most of the runs
    trained in this experiment (of all runs when every one was reused).

    Times from different machines or thread counts do not compare: a run reused from another
    experiment keeps the record of where it trained, and is left out of comparisons made here.
    """
    if frame.empty or "machine" not in frame or frame["machine"].isna().all():
        return None
    here = frame[frame["reused_from"].isna()] if "reused_from" in frame else frame
    machines = (here if here["machine"].notna().any() else frame)["machine"].dropna()
    return str(machines.value_counts().index[0])


def training_time(frame: pd.DataFrame) -> pd.DataFrame:
    """Per variant, on one machine: runs, training seconds (total, per run), images per second
    (all images over all seconds), optimizer steps and the measured seconds per step.

    Only runs trained on ``timing_machine`` count (runs without a record, from older versions,
    count only when no run has one); ``.attrs["left_out"]`` says how many were left out.
    """
    done = frame[frame["status"].isin(["done", "diverged"])]
    if done.empty or "train_seconds" not in done:
        return pd.DataFrame(columns=TIME_COLUMNS)
    machine = timing_machine(done)
    same = done if machine is None else done[done["machine"] == machine]
    g = same.groupby("variant")
    steps = same["steps_done"] if "steps_done" in same else pd.Series(np.nan, index=same.index)
    images = same["images_per_sec"] * same["train_seconds"] if "images_per_sec" in same else np.nan
    out = pd.DataFrame({
        "n_runs": g.size(), "total_seconds": g["train_seconds"].sum(), "seconds_per_run": g["train_seconds"].mean(),
        "images_per_sec": (images.groupby(same["variant"]).sum() / g["train_seconds"].sum()
                           if "images_per_sec" in same else np.nan),
        "steps": steps.groupby(same["variant"]).sum(min_count=1),
        "seconds_per_step": (same["seconds_per_step"].groupby(same["variant"]).median()
                             if "seconds_per_step" in same else np.nan),
    }).reset_index()
    out["machine"] = machine
    order = {v: i for i, v in enumerate(variant_order(out["variant"]))}
    out = out.sort_values("variant", key=lambda c: c.map(order)).reset_index(drop=True)
    out.attrs["left_out"] = len(done) - len(same)
    return out


def _params_text(n: float) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e5 else f"{n / 1e3:.1f} k"


def _ci_text(r) -> str:
    """A gain's interval, or why it has none: one seed is never shown as if it were precise."""
    if r["ci_low"] == r["ci_low"] and r["ci_low"] is not None:
        return f"{100 * r['ci_low']:+.1f} to {100 * r['ci_high']:+.1f}"
    if r["mean_diff"] != r["mean_diff"] or r["mean_diff"] is None:
        return ""
    return "1 seed: no interval" if r["n_pairs"] < 2 else "seeds agree: no interval"


def results_display(table: pd.DataFrame) -> pd.DataFrame:
    """``results_table`` as the text people read: percentages, signed points, intervals, units."""
    def ok(x) -> bool:
        return x is not None and x == x

    rows = []
    for _, r in table.iterrows():
        scratch = r["variant"] == "scratch"
        rows.append({
            "size / class": int(r["size"]),
            "arm": r["variant"],
            "seeds": int(r["n_seeds"]),
            "test accuracy": f"{100 * r['mean']:.1f}%" + (f" ± {100 * r['std']:.1f}" if ok(r["std"]) else ""),
            "gain vs scratch": "reference" if scratch else (f"{100 * r['mean_diff']:+.1f} pts" if ok(r["mean_diff"]) else "–"),
            "95% CI": "" if scratch else _ci_text(r),
            "p": f"{r['p_value']:.3f}" if ok(r["p_value"]) and not scratch else "",
            "trainable params": _params_text(r["trainable_params"]),
            "s per run": f"{r['train_seconds']:.1f}",
        })
    return pd.DataFrame(rows)
