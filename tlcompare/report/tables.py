"""The text formats of a report: every run and epoch as CSV or JSON, the final-metric table as
Markdown or LaTeX, ready to paste into a paper or a slide.

Column meanings are documented in the README ("CSV and JSON columns"); keep the two in step.
"""

from __future__ import annotations

import json
import math

import pandas as pd

import tlcompare
from tlcompare.analysis import label_multiplier
from tlcompare.analysis.frames import variant, variant_order
from tlcompare.report.content import ExperimentReport, generated_line
from tlcompare.text.escape import csv_text, latex_text, markdown_text
from tlcompare.text.setup import describe, plural

JSON_FORMAT_VERSION = 1
# Lists and matrices do not fit a cell: they are in the JSON export.
_NESTED = ("epochs", "final", "confusion", "per_class_acc", "misclassified", "test_correct", "frozen_stages", "config",
           "result_keys")
CSV_COLUMNS = [
    "experiment_id", "experiment_name", "run_id", "arm", "size", "seed", "freeze", "variant", "model", "config_hash",
    "status", "device", "trainable_params", "total_params", "pretrained_source", "run_lr", "n_train", "subset_hash",
    "run_batch_size", "error", "oom_retries", "feature_cache", "head_lr", "budget", "steps_done", "epochs_done",
    "stop_reason", "machine", "threads", "attempts", "reused_from", "worker_id", "started_at", "finished_at",
    "final_test_acc", "final_val_acc", "final_test_balanced_acc", "final_test_macro_f1", "final_train_acc",
    "final_train_acc_clean", "final_final_epoch", "final_train_seconds", "final_images_per_sec",
    "final_seconds_per_step", "final_best_val_acc", "final_best_epoch", "final_test_seconds", "final_peak_mem_mb",
    # No per-epoch test columns: the test set is evaluated once, on the reported model (final_*).
    "epoch", "train_loss", "train_acc", "train_acc_clean", "val_loss", "val_acc",
    "train_seconds", "elapsed_train_seconds", "eval_seconds", "val_seconds", "plain_seconds", "images_per_sec",
    "lr_body", "lr_head", "batch_size",
    "peak_mem_mb", *label_multiplier.CSV_NAMES.values(),
]
# Run fields that an epoch record also has, with another meaning there (the epoch's learning rate
# of the schedule vs the run's peak rate): the run's value goes in a run_ column.
_RUN_PREFIXED = {"lr": "run_lr", "batch_size": "run_batch_size"}


# -- CSV ---------------------------------------------------------------------------------------------
def csv_rows(reports: list[ExperimentReport]) -> pd.DataFrame:
    """One row per run and epoch; a run without epochs (queued, failed) still gets one row."""
    rows = []
    for rep in reports:
        table = rep.view.multiplier.table
        multiplier = {(r["variant"], r["size"]): {k: v for k, v in r.items() if k not in ("variant", "size")}
                      for r in label_multiplier.csv_columns(table).to_dict("records")} if not table.empty else {}
        for run in rep.export_runs():
            base = {"experiment_id": rep.id, "experiment_name": rep.name}
            for k, v in run.items():
                if k == "freeze":
                    base["freeze"] = "" if v is None else str(v)
                    base["variant"] = variant(run["arm"], v)
                elif k not in _NESTED:
                    base[_RUN_PREFIXED.get(k, k)] = v
            base.update({f"final_{k}": v for k, v in (run.get("final") or {}).items()})
            base = {k: csv_text(v) for k, v in base.items()}  # every text cell: names, paths, error messages
            base.update(multiplier.get((base.get("variant"), run.get("size")), {}))
            rows.extend([{**base, **e} for e in run.get("epochs") or []] or [base])
    frame = pd.DataFrame(rows, dtype=object)  # object: a count stays 3, not 3.0, beside a run without it
    # The documented columns always, in their order, so files of queued and finished experiments line up;
    # fields a later version adds follow them.
    return frame.reindex(columns=[*CSV_COLUMNS, *(c for c in frame.columns if c not in CSV_COLUMNS)])


def to_csv(reports: list[ExperimentReport]) -> str:
    return csv_rows(reports).to_csv(index=False)


# -- JSON --------------------------------------------------------------------------------------------
def json_safe(obj):
    """``obj`` with NaN and infinity as None: JSON has neither, and null parses everywhere."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def to_json(reports: list[ExperimentReport]) -> str:
    """Every experiment with its id, name, notes, spec, environment, runs and label multiplier; the
    file ``tlcompare run --out`` writes too (one experiment), so a script reads either."""
    doc = {
        "format": "tlcompare-report", "format_version": JSON_FORMAT_VERSION, "generated": generated_line(),
        "tlcompare": tlcompare.__version__,
        "experiments": [{"id": r.id, "name": r.name, "notes": r.notes, "created": r.created, "status": r.status,
                         "spec": r.spec, "environment": r.environment, "runs": r.export_runs(),
                         "label_multiplier": label_multiplier.export_rows(r.view.multiplier.table),
                         # tune = "lr": each arm's grid and the rate chosen on validation per size
                         "learning_rates": r.view.tuning.export_rows()} for r in reports],
    }
    # ASCII only: the exact text survives, and no control or bidi character reaches a terminal raw.
    return json.dumps(json_safe(doc), indent=1, ensure_ascii=True)


# -- the final-metric table ------------------------------------------------------------------------------
def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def metric_grid(rep: ExperimentReport) -> tuple[list[str], list[int], dict, dict]:
    """Variants (columns), sizes (rows), and per (size, variant) the accuracy and the paired gain, each as
    (text, spread text or None, value)."""
    table = rep.view.table
    if table.empty:
        return [], [], {}, {}
    variants = variant_order(table["variant"])
    sizes = sorted(int(s) for s in table["size"].unique())
    acc, gain = {}, {}
    for _, r in table.iterrows():
        key = (int(r["size"]), r["variant"])
        spread = None if r["n_seeds"] < 2 or math.isnan(r["std"]) else _pct(r["std"])
        acc[key] = (_pct(r["mean"]), spread, float(r["mean"]))
        if r["variant"] != "scratch" and not pd.isna(r.get("mean_diff")):
            ci = "" if pd.isna(r["ci_low"]) else f" [{100 * r['ci_low']:+.1f}, {100 * r['ci_high']:+.1f}]"
            gain[key] = (f"{100 * r['mean_diff']:+.1f}{ci}", None, float(r["mean_diff"]))
    return variants, sizes, acc, gain


def _seed_text(rep: ExperimentReport) -> str:
    n = sorted(set(int(x) for x in rep.view.table["n_seeds"]))
    if n == [1]:
        return "1 seed: no spread, no interval"
    return plural(n[0], "seed") if len(n) == 1 else f"{n[0]} to {n[-1]} seeds"


def _describe(rep: ExperimentReport) -> str:
    # The form's words (titles written down in text/setup.py): the text exports run without torch.
    return describe(rep.spec, rep.environment)


def to_markdown(reports: list[ExperimentReport]) -> str:
    out = [f"<!-- {generated_line()} -->", ""]
    for rep in reports:
        out += [f"### {markdown_text(rep.label)}", "", f"*{markdown_text(_describe(rep))}*", ""]
        variants, sizes, acc, gain = metric_grid(rep)
        if not sizes:
            out += ["No finished runs yet.", ""]
            continue
        out += [f"Test accuracy (%), mean ± standard deviation over seeds ({_seed_text(rep)}); best per row in bold.", ""]
        out += _md_table(["size / class", *variants], sizes, variants, acc, bold=True)
        pre = [v for v in variants if v != "scratch"]
        if gain and pre:
            out += ["Gain over scratch (accuracy points, paired on size and seed), with the 95 % CI over seeds.", ""]
            out += _md_table(["size / class", *pre], sizes, pre, gain, bold=False)
        out += [f"**{markdown_text(rep.view.answer)}**", ""]
        # What the answer rests on, as the HTML report and `show` say it: each size, the validation
        # images beside N, the learning rates chosen on validation (and a choice at a grid's edge).
        out += [f"- {markdown_text(line)}" for line in rep.view.verdict_lines] + [""]
        out += _md_multiplier(rep)
        view = rep.view
        out += [markdown_text(line) for line in (view.budget, view.flags_summary) if line] + [""]
        out += [f"- {markdown_text(line)}" for line in view.flag_lines + view.controls]
        out += [""] if view.flag_lines or view.controls else []
    return "\n".join(out)


def multiplier_grid(rep: ExperimentReport) -> tuple[list[str], list[int], dict]:
    """Pretrained variants (columns), sizes (rows) and per (size, variant) K with its interval and case."""
    table = rep.view.multiplier.table
    if table.empty:
        return [], [], {}
    cells = {(int(r["size"]), r["variant"]): (_k_cell(r), None, 0.0) for _, r in table.iterrows()}
    return variant_order(table["variant"]), sorted(int(s) for s in table["size"].unique()), cells


def _k_cell(r) -> str:
    def k(x: float) -> str:
        if x == math.inf:
            return "unbounded"
        if x == -math.inf:
            return f"< {k(r['scratch_min_size'] / r['size'])}"
        return f"{x:.2g}" if x < 10 else f"{x:.0f}"

    if r["case"] == "flat":
        return "flat"
    if r["case"] == "not reached":
        return "not reached"
    if r["case"] in ("above range", "beyond projection"):
        return f"> {k(r['k'])}"
    if r["case"] == "below range":
        return f"< {k(r['k'])}"
    high = f"> {k(r['limit'] * r['scratch_max_size'] / r['size'])}" if r["k_high"] == math.inf else k(r["k_high"])
    ci = "" if math.isnan(r["k_low"]) else f" [{k(r['k_low'])}, {high}]"
    return f"{k(r['k'])}{ci}" + (" (extrapolated)" if r["case"] == "extrapolated" else "")


def _md_multiplier(rep: ExperimentReport) -> list[str]:
    m = rep.view.multiplier
    if m.missing:
        return [markdown_text(m.missing), ""]
    variants, sizes, cells = multiplier_grid(rep)
    out = [f"**{markdown_text(m.lead)}**", "",
           "Label multiplier K (images per class scratch needs, over the images per class given), with its 95 % "
           "interval over seeds.", ""]
    out += _md_table(["size / class", *variants], sizes, variants, cells, bold=False)
    out += [f"- {markdown_text(line)}" for line in m.all_lines] + ["", markdown_text(m.method), ""]
    return out


def _md_table(header, sizes, variants, cells, bold: bool) -> list[str]:
    lines = ["| " + " | ".join(markdown_text(h) for h in header) + " |",
             "|---:|" + "---:|" * len(variants)]
    for size in sizes:
        shown = _row_cells([cells.get((size, v)) for v in variants], bold, "–",
                           lambda value, spread: value + (f" ± {spread}" if spread else ""), "**{}**".format)
        lines.append(f"| {size} | " + " | ".join(shown) + " |")
    return [*lines, ""]


def to_latex(reports: list[ExperimentReport]) -> str:
    out = [f"% {generated_line()}", "% Needs \\usepackage{booktabs} in the preamble.", ""]
    for rep in reports:
        variants, sizes, acc, gain = metric_grid(rep)
        if not sizes:
            out += [f"% {latex_text(rep.label)}: no finished runs yet.", ""]
            continue
        caption = (f"Test accuracy (\\%) of {latex_text(rep.label)} ({latex_text(_describe(rep))}): mean $\\pm$ "
                   f"standard deviation over seeds ({_seed_text(rep)}); best per row in bold.")
        out += _latex_table(caption, f"tab:tlcompare-{rep.id}-accuracy", sizes, variants, acc, bold=True)
        pre = [v for v in variants if v != "scratch"]
        if gain and pre:
            caption = (f"Gain over training from scratch (accuracy points) of {latex_text(rep.label)}, paired on "
                       f"training set and seed, with the 95\\% confidence interval over seeds.")
            out += _latex_table(caption, f"tab:tlcompare-{rep.id}-gain", sizes, pre, gain, bold=False)
        k_variants, k_sizes, k_cells = multiplier_grid(rep)
        if k_cells:
            caption = (f"Label multiplier of {latex_text(rep.label)}: images per class training from scratch needs to "
                       "match the pretrained variant, over the images per class given, with the 95\\% interval over "
                       f"seeds. {latex_text(rep.view.multiplier.lead)}"
                       + "".join(f" {latex_text(line)}" for line in rep.view.multiplier.target_lines))
            out += _latex_table(caption, f"tab:tlcompare-{rep.id}-multiplier", k_sizes, k_variants, k_cells, bold=False)
    return "\n".join(out)


def _latex_table(caption, label, sizes, variants, cells, bold: bool) -> list[str]:
    lines = ["\\begin{table}[t]", "\\centering", f"\\caption{{{caption}}}", f"\\label{{{label}}}",
             "\\begin{tabular}{r" + "r" * len(variants) + "}", "\\toprule",
             "size / class & " + " & ".join(latex_text(v) for v in variants) + " \\\\", "\\midrule"]
    for size in sizes:
        shown = _row_cells([cells.get((size, v)) for v in variants], bold, "--",
                           lambda value, spread: latex_text(value) + (f" $\\pm$ {spread}" if spread else ""),
                           "\\textbf{{{}}}".format)
        lines.append(f"{size} & " + " & ".join(shown) + " \\\\")
    return [*lines, "\\bottomrule", "\\end{tabular}", "\\end{table}", ""]


def _row_cells(row, bold: bool, missing: str, text, strong) -> list[str]:
    """One table row's cells: (value, spread, sort key) or None; the best value strong when asked."""
    best = max((c[2] for c in row if c), default=None)
    return [missing if c is None else
            strong(text(c[0], c[1])) if bold and c[2] == best and len(row) > 1 else text(c[0], c[1])
            for c in row]
