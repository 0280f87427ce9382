"""Writing an experiment's results: one JSON with everything, one CSV row per run and epoch."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd

from tlcompare.analysis.frames import epochs_frame, runs_frame


def json_safe(obj):
    # JSON has no NaN: write null so every parser reads the file.
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def write_results(result: dict, out: str | Path) -> tuple[Path, Path]:
    """Write ``out`` (JSON, with the label multiplier of every variant and size) and the CSV beside it
    (same stem; each row carries its variant and size's multiplier); return both paths."""
    from tlcompare.analysis import label_multiplier

    table = label_multiplier.multipliers(runs_frame(result["runs"])) if result["runs"] else pd.DataFrame()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    doc = {**result, "label_multiplier": label_multiplier.export_rows(table) if not table.empty else []}
    tmp.write_text(json.dumps(json_safe(doc), indent=1))
    os.replace(tmp, out)
    csv_path = out.with_suffix(".csv")
    epochs = epochs_frame(result["runs"])
    if not table.empty and not epochs.empty:
        epochs = epochs.merge(label_multiplier.csv_columns(table), on=["variant", "size"], how="left")
    epochs.to_csv(csv_path, index=False)
    return out, csv_path
