"""Writing an experiment's results: one JSON with everything, one CSV row per run and epoch."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from tlcompare.analysis import epochs_frame


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
    """Write ``out`` (JSON) and the CSV beside it (same stem); return both paths."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(json_safe(result), indent=1))
    os.replace(tmp, out)
    csv_path = out.with_suffix(".csv")
    epochs_frame(result["runs"]).to_csv(csv_path, index=False)
    return out, csv_path
