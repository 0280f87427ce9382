"""Which experiments History lists: its search box and filters, as one plain function."""

from __future__ import annotations

import time


def matching(experiments: list[dict], search: str = "", datasets=(), models=(), statuses=(),
             since: str | None = None) -> list[dict]:
    """The experiments whose name or notes contain ``search`` (any case), whose dataset, model and
    status are among those chosen (none chosen: any), created on or after ``since`` (YYYY-MM-DD)."""
    words = search.strip().lower()
    return [e for e in experiments
            if (not words or words in f"{e['name']}\n{e['notes'] or ''}".lower())
            and (not datasets or str(e["dataset"]) in datasets)
            and (not models or str(e["model"]) in models)
            and (not statuses or e["status"] in statuses)
            and (since is None or time.strftime("%Y-%m-%d", time.localtime(e["created"])) >= since)]
