"""How long queueing a large grid keeps other writers waiting.

Queues a 10,000-run experiment (the largest allowed) into a fresh store while a second connection
writes a tiny row every 10 ms, as a worker's heartbeat or a cancel would, and reports the longest
wait that second writer saw. Before runs were queued in batches, the whole grid was one transaction.

    .venv/bin/python benchmarks/queue_lock.py            # as shipped
    .venv/bin/python benchmarks/queue_lock.py 100000     # the whole grid in one transaction (before)
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import tlcompare.store
from tlcompare.spec import build_spec
from tlcompare.store import Store


def main() -> None:
    if len(sys.argv) > 1:
        tlcompare.store.db.QUEUE_BATCH = int(sys.argv[1])
    batch = tlcompare.store.db.QUEUE_BATCH
    path = Path(tempfile.mkdtemp()) / "bench.db"
    store = Store(path)
    store.create_experiment(build_spec({"sizes": [2]}), name="other")
    spec = build_spec({"sizes": list(range(2, 102)), "seeds": 25, "freeze": [0, 1, "all"]})
    n_runs = len(spec.runs())
    done, results = mp.Event(), mp.Queue()
    proc = mp.Process(target=_writer, args=(path, done, results))  # another process, as a worker is
    proc.start()
    time.sleep(2.0)  # let it import and start writing
    t0 = time.perf_counter()
    store.create_experiment(spec)
    total = time.perf_counter() - t0
    done.set()
    waits = results.get()
    proc.join()
    waits.sort()
    print(f"{n_runs} runs queued in {total:.2f} s ({batch} per transaction, "
          f"{total / -(-n_runs // batch) * 1000:.0f} ms per transaction on average)")
    print(f"a concurrent writer's wait: median {waits[len(waits) // 2] * 1000:.1f} ms, "
          f"longest {waits[-1] * 1000:.0f} ms over {len(waits)} writes")


def _writer(path: Path, done, results) -> None:
    other, waits = Store(path), []
    while not done.is_set():
        t0 = time.perf_counter()
        other.rename_experiment(1, f"other {len(waits)}")
        waits.append(time.perf_counter() - t0)
        time.sleep(0.01)
    results.put(waits)


if __name__ == "__main__":
    main()
