"""The baseline: one experiment pinned in History that Results compares others against."""

from __future__ import annotations

from tlcompare.store import Store


def pin_baseline(store: Store, experiment_id: int) -> None:
    """Pin ``experiment_id`` and unpin every other: there is one baseline at a time."""
    for e in store.list_experiments():
        if e["pinned"] and e["id"] != experiment_id:
            store.set_pinned(e["id"], False)
    store.set_pinned(experiment_id, True)
