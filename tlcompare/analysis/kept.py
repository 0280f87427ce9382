"""The label multiplier as JSON, so the store can keep it for an experiment's content.

The multiplier (a thousand seed resamples walked along scratch's curve, labels to the default
target, the time saved) is the costliest part of the Results page's first look. The worker computes
it when an experiment's last run ends and the store keeps it with the experiment's change stamp
(``store/analyses.py``); Results reads it back while the stamp and the tlcompare version still match,
and computes it otherwise. The round trip is exact: every frame comes back with its columns, index,
dtypes and values (NaN and infinite bounds included).
"""

from __future__ import annotations

import json
from dataclasses import fields

import pandas as pd

from tlcompare.analysis.label_multiplier import Multiplier

FORMAT = 1


def _frame(df: pd.DataFrame) -> dict:
    return {"columns": list(df.columns), "index": df.index.tolist(), "data": df.to_numpy(dtype=object).tolist(),
            "dtypes": [str(t) for t in df.dtypes]}


def _unframe(d: dict) -> pd.DataFrame:
    df = pd.DataFrame(d["data"], columns=d["columns"], index=d["index"] or None, dtype=object)
    if not d["index"]:
        df = df.iloc[:0]
    return df.astype(dict(zip(d["columns"], d["dtypes"], strict=True))) if d["columns"] else df


def dumps(m: Multiplier) -> str:
    body = {f.name: _frame(getattr(m, f.name)) if isinstance(getattr(m, f.name), pd.DataFrame) else getattr(m, f.name)
            for f in fields(m)}
    return json.dumps({"format": FORMAT, "multiplier": body})


def loads(text: str) -> Multiplier | None:
    """The kept multiplier, or None when it is of another format or does not read (then it is computed)."""
    try:
        stored = json.loads(text)
        if stored.get("format") != FORMAT:
            return None
        body = stored["multiplier"]
        return Multiplier(**{f.name: _unframe(body[f.name]) if isinstance(body[f.name], dict) else body[f.name]
                             for f in fields(Multiplier)})
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
