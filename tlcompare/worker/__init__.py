"""Where runs execute: the worker process (the only code that writes results), how the dashboard
starts and watches it (`control`, `procs`), and the executors that place workers on this machine
or a Ray cluster (`executors`, `local`, `inprocess`, `ray_driver`, `ray_actor`, `ray_cluster`).

Importing this package imports nothing heavy: the dashboard reads worker state without torch.
"""
