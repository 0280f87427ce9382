"""The SQLite store, the hub every face of tlcompare reads and the worker writes.

`db` holds the connection and what the dashboard calls; `queue` the worker's side (claims,
per-epoch writes, liveness of workers and recovery of their runs); `rows` turns rows into records;
`schema` creates and migrates the file; `errors` says in one line how a file can fail; `baseline`
pins an experiment as the reference drawn on every chart; `headlines` keeps History's one-line
summaries; `correct_bits` packs which test images a run got right.
"""

from tlcompare.store.db import QUEUE_BATCH, Store, default_path
from tlcompare.store.errors import StoreError
from tlcompare.store.rows import LostRun

__all__ = ["QUEUE_BATCH", "LostRun", "Store", "StoreError", "default_path"]
