"""A dataset's facts (split sizes, largest size per class) read in their own process, so a form that
needs them never waits while a dataset is decoded for the first time.

``facts_or_start`` answers at once: from this process's memory, from the disk cache (built-in
datasets only: their files do not change, while a folder of your own may gain images between two
looks), or by starting ``python -m tlcompare.data.facts_background ...`` and answering "reading". The
caller shows that and asks again later. A lock file per question keeps two tabs from reading the
same dataset twice; a failed read leaves its last line in a log beside the lock, which the caller
shows instead of waiting forever. The same scheme as the throughput probe (estimate/background.py),
through `worker/procs.LockedJobs`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from tlcompare.data.facts import DatasetFacts
from tlcompare.home import subdir
from tlcompare.worker.procs import LockedJobs, last_line

FORMAT = 1
_known: dict[tuple, DatasetFacts | None] = {}
_jobs = LockedJobs()
_started = _jobs.started  # the reads this process started


@dataclass(frozen=True)
class FactsState:
    facts: DatasetFacts | None  # the facts when known (None also when the data is not on this machine)
    reading: bool = False  # a background read is under way: ask again later
    failed: str | None = None  # why the last read failed


def question(name: str, data_root: str | None, val_fraction: float, test_fraction: float, split_seed: int) -> tuple:
    """The key of one read: the facts depend on the data and on how it is split."""
    return (name, data_root or "", float(val_fraction), float(test_fraction), int(split_seed))


def _paths(asked: tuple) -> tuple[Path, Path, Path]:
    blob = json.dumps([*asked, FORMAT])
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    folder = subdir("cache", "facts")
    return folder / f"{digest}.json", folder / f"{digest}.lock", folder / f"{digest}.log"


def _builtin(name: str) -> bool:
    from tlcompare.data import DATASETS

    return name in DATASETS


def _read_result(path: Path) -> tuple[bool, DatasetFacts | None]:
    """(found, facts) from a result file; a damaged or other-version file counts as not found."""
    try:
        raw = json.loads(path.read_text())
        if raw.get("format") != FORMAT:
            return False, None
        data = raw["facts"]
        if data is None:
            return True, None
        # JSON has no tuples: the split and the image size come back as lists
        split = tuple(data["split"]) if data.get("split") is not None else None
        return True, DatasetFacts(**{**data, "image_hw": tuple(data["image_hw"]), "split": split})
    except (OSError, ValueError, KeyError, TypeError):
        return False, None


def save_facts(asked: tuple, facts: DatasetFacts | None) -> None:
    """Keep a read's result, in this process and on disk (also how a test seeds the cache): the file
    atomically, a half-written one never loads."""
    _known[asked] = facts
    path, _, _ = _paths(asked)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump({"format": FORMAT, "facts": None if facts is None else asdict(facts)}, f)
    os.replace(tmp, path)



def facts_or_start(name: str, data_root: str | None, val_fraction: float, test_fraction: float,
                   split_seed: int) -> FactsState:
    """The facts when known, else start reading them in the background and say so."""
    _jobs.reap()
    asked = question(name, data_root, val_fraction, test_fraction, split_seed)
    if asked in _known:
        return FactsState(_known[asked])
    path, lock, log = _paths(asked)
    found, facts = _read_result(path)
    if found:
        _known[asked] = facts
        if not _builtin(name):
            path.unlink(missing_ok=True)  # a folder's facts hold for this process only: it may change
        return FactsState(facts)
    if _jobs.running(lock):
        return FactsState(None, reading=True)
    from tlcompare.data import dataset_info

    if dataset_info(name).unavailable_reason(data_root) is not None:
        return FactsState(None)  # not on this machine (a look at its files): nothing to read, nothing downloads
    if log.exists() and not lock.exists():
        return FactsState(None, failed=_last_line(log))
    _jobs.start(lock, log, "tlcompare.data.facts_background", json.dumps(list(asked)))
    return FactsState(None, reading=True)  # started here, or by another tab just now


def forget(name: str, data_root: str | None, val_fraction: float, test_fraction: float, split_seed: int) -> None:
    """Read again at the next ask: after a failed read, when the user asks to retry."""
    asked = question(name, data_root, val_fraction, test_fraction, split_seed)
    _known.pop(asked, None)
    for p in _paths(asked):
        p.unlink(missing_ok=True)


def _last_line(log: Path) -> str:
    return last_line(log, "reading the dataset stopped without a message")


def _main(question_json: str) -> int:
    from tlcompare.data.facts import dataset_facts
    from tlcompare.errors import UserError

    asked = tuple(json.loads(question_json))
    _, lock, log = _paths(asked)
    try:
        save_facts(asked, dataset_facts(asked[0], asked[1] or None, *asked[2:]))
    except Exception as e:  # one line for the form; the log keeps it for the next look
        print(str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}", flush=True)
        return 1
    finally:
        lock.unlink(missing_ok=True)
    log.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
