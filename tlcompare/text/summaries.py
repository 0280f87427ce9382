"""Terminal text for the store: the experiment list, one experiment in detail, results, workers."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tlcompare.text.escape import printable

if TYPE_CHECKING:
    from tlcompare.analysis.view import ResultsView


def _safe(value) -> str:
    """User text (names, notes, errors, folder paths) with control and bidi characters shown as
    escapes: raw, an ESC recolours the terminal and a newline forges table rows."""
    return printable(str(value), limit=10_000)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = max(0, int(round(seconds)))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "-"


def _table(header: list[str], rows: list[list], right: set[int] = frozenset()) -> str:
    cells = [[str(c) for c in header]] + [["-" if c is None else _safe(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def experiments_table(experiments: list[dict]) -> str:
    if not experiments:
        return "no experiments yet: `tlcompare submit exp.toml` queues one"
    rows = [[e["id"], ("* " if e["pinned"] else "") + e["name"], "damaged" if e.get("damaged") else e["status"],
             f"{e['n_done']}/{e['n_runs']}",
             _when(e["created"])] for e in experiments]
    return _table(["ID", "NAME", "STATUS", "RUNS", "CREATED"], rows, right={0, 3})


def _p(p: float) -> str:
    return "-" if p != p else "<0.001" if p < 0.001 else f"{p:.3f}"


def _comparison_lines(view: ResultsView) -> list[str]:
    """Each variant minus scratch: the seed interval, then the test over test images."""
    from tlcompare.analysis.verdict import correction_text

    comp = view.verdict.comparisons
    others = view.diffs
    others = others[~others["variant"].str.startswith("pretrained")] if not others.empty else others
    family = correction_text(comp)
    corrected = f"; p {family}" if family else ""
    lines = ["", f"Paired difference vs scratch (points; 95% CI over seeds, test set fixed{corrected}):",
             f"  {'size':>5}  {'variant':<28} {'diff':>6}  {'95% CI':<16} {'seeds p':>8}  {'test-set p':>10}  McNemar p per seed (uncorrected)"]
    for _, d in comp.iterrows():
        ci = f"[{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}]" if d["ci95"] == d["ci95"] else "no interval"
        per_seed = ", ".join(_p(p) for _, _, p in d["mcnemar"]) or "-"
        images = f" ({d['test_images']} images)" if d["test_images"] else ""
        lines.append(f"  {d['size']:>5}  {d['variant']:<28} {100 * d['mean_diff']:+6.1f}  {ci:<16} {_p(d['p_holm']):>8}  "
                     f"{_p(d['test_p_holm']):>10}  {per_seed}{images}")
    for _, d in others.iterrows():
        ci = f"[{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}]" if d["ci95"] == d["ci95"] else "no interval"
        lines.append(f"  {d['size']:>5}  {d['variant']:<28} {100 * d['mean_diff']:+6.1f}  {ci}")
    return lines


def results_lines(view: ResultsView, target: float | None = None) -> list[str]:
    """The summary `tlcompare run` and `show` print from an experiment's view (``analysis.view.analyse``):
    accuracy table, paired differences, verdict, label multiplier, what the numbers rest on."""
    if view.frame.empty or "test_acc" not in view.frame:
        return ["No finished runs yet."]
    lines = []
    table = view.summary
    if not table.empty:
        table = table.assign(test_acc=[f"{m:.3f} +/- {s:.3f}" if s == s else f"{m:.3f}"
                                       for m, s in zip(table["mean"], table["std"], strict=True)])
        lines += ["", "Test accuracy (mean +/- std over seeds):",
                  table.pivot(index="size", columns="variant", values="test_acc").to_string()]
    judged = view.verdict
    if view.diffs.empty:
        return [*lines, "", "No finished scratch/pretrained pairs yet.", *judged.caveats, *fairness_lines(view)]
    lines += _comparison_lines(view)
    lines += ["", judged.answer, *judged.lines, *judged.caveats]
    if judged.method:
        lines.append(judged.method)
    return lines + multiplier_lines(view, target) + fairness_lines(view)


def multiplier_lines(view: ResultsView, target: float | None = None) -> list[str]:
    """The label multiplier of every variant and size, the images per class each arm needs for
    ``target`` test accuracy (default: the best pretrained accuracy measured), and the time saved."""
    from tlcompare.analysis.label_multiplier import target_line

    m = view.multiplier
    if m.missing:
        return ["", m.missing]
    out = ["", "Label multiplier (images per class scratch needs to match pretrained):"]
    out += [f"  {line}" for line in m.lines] + [f"  {m.method}"]
    needs = target_line(view.labels_to_target(target))
    if needs:
        out += ["", "Labels to a target accuracy (each arm's own curve, 95 % interval over seeds):", f"  {needs}"]
    if m.time_lines:
        out += ["", "Time saved (training seconds to the variant's final validation accuracy):"]
        out += [f"  {line}" for line in m.time_lines]
    return out


def fairness_lines(view: ResultsView) -> list[str]:
    """What the numbers above rest on: the budget, runs that did not finish learning, the random-features control."""
    out = ["", view.budget] + ([view.flags_summary] if view.flags_summary else [])
    out += [f"  {line}" for line in view.flag_lines]
    if view.controls:
        out += ["", "Pretrained vs random features (same freezing depth, paired on size and seed):"]
        out += [f"  {line}" for line in view.controls]
    return out


def experiment_report(exp: dict, progress: dict, runs: list[dict], target: float | None = None) -> str:
    from tlcompare.analysis.frames import variant  # pandas: not for `tlcompare ls`
    from tlcompare.analysis.tuning import rate_text
    from tlcompare.analysis.view import analyse

    counts = ", ".join(f"{n} {s}" for s, n in sorted(progress["counts"].items()))
    lines = [
        f"experiment {exp['id']}: {_safe(exp['name'])}" + ("  [pinned]" if exp["pinned"] else ""),
        f"status: {exp['status']}   created {_when(exp['created'])}   {_safe(exp['dataset'])} / {_safe(exp['model'])}",
        f"progress: {progress['finished']}/{progress['total']} runs ended ({100 * progress['fraction']:.0f}%): {counts}",
    ]
    if progress["running"] or progress["counts"].get("queued") or progress["counts"].get("interrupted"):
        lines.append(f"elapsed {duration(progress['elapsed_seconds'])}, ETA {duration(progress['eta_seconds'])}")
    if exp["status"] == "cancelled":
        lines.append(f"cancelled: `tlcompare resume {exp['id']}` queues the cancelled runs again and keeps the finished ones")
    for r in progress["running"]:
        steps = f", step {r['step']}/{r['total_steps']}" if r["total_steps"] else ""
        stop = " (cancel requested)" if r["cancel_requested"] else ""
        lines.append(f"  running: run {r['run_id']} {_safe(r['label'])}: epoch {r['epoch']}/{r['epochs']}{steps} "
                     f"on {_safe(r['device'] or '?')} by worker {_safe(r['worker_id'])}{stop}")
    if exp["notes"]:
        lines.append(f"notes: {_safe(exp['notes'])}")
    view = analyse(runs, exp.get("spec"), exp.get("environment"))
    # Under tune = "lr" an arm's size and seed trained at several rates: each row says its rate and the
    # validation accuracy that chose between them, and which rate is the arm's result there.
    tuned = view.tuning.tuned
    chosen = {r.get("run_id") for r in view.tuning.runs} if tuned else set()
    rows = []
    for r in runs:
        final = r["final"] or {}
        note = f"reused run {r['reused_from']}" if r["reused_from"] else (r["error"] or "")
        if r["attempts"] > 1:
            note = f"attempt {r['attempts']}; {note}".rstrip("; ")
        if r["run_id"] in chosen and r["status"] in ("done", "diverged"):
            note = f"chosen rate; {note}".rstrip("; ")
        rate = [rate_text(r["lr"]) if r.get("lr") else None,
                f"{final['val_acc']:.3f}" if isinstance(final.get("val_acc"), int | float) else None] if tuned else []
        rows.append([r["run_id"], variant(r["arm"], r["freeze"]), r["size"], r["seed"], *rate, r["status"],
                     len(r["epochs"]), f"{final['test_acc']:.3f}" if "test_acc" in final else None,
                     f"{final['train_seconds']:.1f}" if "train_seconds" in final else None, note[:70]])
    header = ["RUN", "VARIANT", "SIZE", "SEED", *(["LR", "VAL_ACC"] if tuned else []), "STATUS", "EPOCHS", "TEST_ACC",
              "TRAIN_S", "NOTE"]
    right = {0, 2, 3, 5, 6, 7} if not tuned else {0, 2, 3, 4, 5, 7, 8, 9}
    lines += ["", _table(header, rows, right=right)]
    lines += results_lines(view, target)
    return "\n".join(lines)


def workers_table(workers: list[dict]) -> str:
    if not workers:
        return "no workers yet: `tlcompare worker` starts one"
    rows = []
    for w in workers:
        state = w["state"] if w["alive"] else ("stopped" if w["state"] == "exited" else "dead")
        if w["alive"] and w["stop_requested"]:
            state = "stopping"
        doing = f"run {w['run_id']} ({w['run_label']})" if w["alive"] and w["run_id"] else ""
        age = f"{time.time() - w['heartbeat']:.0f} s ago" if w["heartbeat"] else "-"
        rows.append([w["id"], w["pid"], w["host"], w["device"] or "auto", state, age, doing, w["log_path"] or ""])
    return _table(["WORKER", "PID", "HOST", "DEVICE", "STATE", "HEARTBEAT", "DOING", "LOG"], rows, right={1})
