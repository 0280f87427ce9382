"""The command line: ``tlcompare run | submit | worker | workers | ls | show | cancel | resume | delete | datasets | models | report``.

Errors the user can fix print one line and exit 2; nothing prints a traceback unless
``TLCOMPARE_DEBUG=1`` is set.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
import time
from dataclasses import fields
from pathlib import Path

from tlcompare.errors import SpecError, UserError
from tlcompare.text.escape import printable
from tlcompare.threads import record_wait_policy

EXIT_USER_ERROR = 2
MAX_ID = 2**63 - 1  # SQLite's integers: a larger id names no row and would overflow the query


def experiment_id(text: str) -> int:
    """An experiment id for argparse: a whole number from 1 to MAX_ID, refused as argparse refuses a typo."""
    try:
        value = int(text) if text.strip().isascii() else None
    except ValueError:
        value = None
    if value is None or not 1 <= value <= MAX_ID:
        raise argparse.ArgumentTypeError(f"'{printable(text, 40)}' is not an experiment id (a whole number from 1 up, see `tlcompare ls`)")
    return value


def _add_spec_flags(p: argparse.ArgumentParser) -> None:
    from tlcompare.presets import PRESETS
    from tlcompare.spec import AUGMENTS, BUDGETS, OPTIMIZERS, TUNES, VALIDATIONS

    g = p.add_argument_group("experiment (each flag overrides the same key in --config, which overrides --preset)")
    g.add_argument("--preset", choices=list(PRESETS), metavar="NAME",
                   help="start from a preset of the dashboard's form: "
                        + "; ".join(f"{key} ({preset.title})" for key, preset in PRESETS.items()))
    g.add_argument("--config", help="TOML file whose keys mirror these flags (image_size = 32, sizes = [5, 20])")
    g.add_argument("--dataset", help="a built-in name (see `tlcompare datasets`), imagefolder:PATH, zip:PATH or torchvision:NAME; default digits")
    g.add_argument("--data-root", help="folder holding raw dataset files (torchvision layout)")
    g.add_argument("--model", help="backbone (see `tlcompare models`); default efficientnet_lite0")
    g.add_argument("--weights", help="local checkpoint (state dict) used as the pretrained source")
    g.add_argument("--sizes", help="training images per class, comma separated (5,20,100)")
    g.add_argument("--freeze", help="freezing depths for the pretrained arm: 0 = fine-tune all, N stages, all = linear probe (0,all)")
    g.add_argument("--seeds", help="a count (3 = seeds 0,1,2) or a comma-separated list")
    g.add_argument("--budget", choices=BUDGETS,
                   help="how long each run trains: equal epochs, equal optimizer steps, or until validation accuracy "
                        "stops improving (default converged; then --min-steps is the minimum)")
    g.add_argument("--epochs", type=int, help="budget epochs: epochs per run; default 20")
    g.add_argument("--steps", type=int, help="budget steps: optimizer steps per run (default 1000)")
    g.add_argument("--min-steps", type=int, help="budget converged: optimizer steps before a run may stop (default 500)")
    g.add_argument("--patience", type=int,
                   help="budget converged: optimizer steps without a new best validation accuracy (default 200)")
    g.add_argument("--max-epochs", type=int, help="budget converged: the cap (default 300)")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--image-size", help="training resolution in pixels (square); a list (32,96) sweeps resolutions: "
                                        "one experiment each, paired on subsets and seeds")
    g.add_argument("--augment", choices=AUGMENTS)
    g.add_argument("--optimizer", choices=OPTIMIZERS)
    g.add_argument("--lr-scratch", type=float, help="learning rate of the random-init arms")
    g.add_argument("--lr-pretrained", type=float, help="learning rate of the pretrained arm")
    g.add_argument("--tune", choices=TUNES,
                   help="lr: train every arm at a grid of learning rates (4, over 30x around its rate) at every size "
                        "and seed, and keep the rate with the best validation accuracy; lr-ends: the grid at the "
                        "smallest and largest size only, the sizes between at the rate interpolated from their "
                        "choices (default none)")
    g.add_argument("--lr-grid", type=int, help="tune lr: rates in each arm's grid (default 4)")
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--warmup-epochs", type=float)
    g.add_argument("--label-smoothing", type=float)
    g.add_argument("--head-lr-mult", type=float, help="learning-rate multiplier of a pretrained model's new head (default 10)")
    g.add_argument("--min-steps-per-epoch", type=int, help="tiny subsets use smaller batches to get at least this many steps (default 4)")
    g.add_argument("--small-cnn", action="store_true", default=None, help="add a small task-sized CNN trained from scratch")
    g.add_argument("--no-feature-cache", dest="feature_cache", action="store_false", default=None,
                   help="linear probes without augmentation: run the frozen body every step instead of once")
    g.add_argument("--random-control", action="store_true", default=None,
                   help="add a control arm per frozen depth: the same freezing on a randomly initialised body")
    g.add_argument("--target-acc", type=float, help="validation accuracy for time to target (default 0.8)")
    g.add_argument("--validation", choices=VALIDATIONS,
                   help="the images that choose each run's model (best epoch, tuned rate): within (default: a fifth "
                        "of the N labelled per class, at least 1, the rest train: what a user with N would have; "
                        "sizes from 2) or held_out (a share of the whole dataset shared by every run, as papers "
                        "comparing training methods use; docs/validation.md)")
    g.add_argument("--val-fraction", type=float, help="validation held_out: the share of the dataset held out")
    g.add_argument("--test-fraction", type=float, help="test share when the dataset has no official test split")
    g.add_argument("--split-seed", type=int)
    g.add_argument("--device", help="auto (GPU when present), cpu, cuda, cuda:N")
    g.add_argument("--name", help="a name for the experiment")


def spec_from_args(args: argparse.Namespace, base: dict | None = None):
    """The spec of --preset, --config and the flags (each overriding the one before), refused whole
    (exit 2) before anything is stored.

    ``base``: the values the preset, the file and the flags override (an experiment's stored spec
    for ``submit --into``), instead of the defaults.
    """
    from tlcompare.presets import PRESETS
    from tlcompare.spec import DERIVED, ExperimentSpec, build_spec, load_toml

    values = {k: v for k, v in (base or {}).items() if k not in DERIVED}
    if getattr(args, "preset", None):
        values.update(PRESETS[args.preset].spec_values())
    if args.config:
        values.update(load_toml(args.config))
    for f in fields(ExperimentSpec):
        flag_value = getattr(args, f.name, None)
        if flag_value is not None:
            values[f.name] = flag_value
    return build_spec(values)  # refuses depths deeper than the model and sizes over the pools


def warn_about(spec) -> None:
    """Valid settings that look like a typo or that a reader must know of. Said once the command has
    been accepted, so a refusal stays one line."""
    from tlcompare.spec import doubts, resolution_notes

    for line in doubts(spec) + resolution_notes(spec):
        print(f"warning: {printable(line, limit=10_000)}", file=sys.stderr)


class Progress:
    """One line per run; on a terminal the line updates after every epoch."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr  # at the time of the run: a caller may have redirected it since import
        self.tty = self.stream.isatty()
        self.prefix = ""

    def run_start(self, i, total, label):
        self.prefix = f"[{i + 1}/{total}] {label}"
        self._show(self.prefix + " ...", final=False)

    def epoch(self, rec, epochs):
        if self.tty:
            of = f"/{epochs}" if epochs else ""
            self._show(f"{self.prefix}  epoch {rec['epoch']}{of}  val {rec['val_acc']:.3f}", final=False)

    def run_end(self, res, note=""):
        """``res``: a RunResult dict or a worker outcome (status, final, error)."""
        final = res.get("final") or {}
        if final:
            msg = f"{self.prefix}  test {final['test_acc']:.3f}  {final['train_seconds']:.1f}s  {final['images_per_sec']:.0f} img/s"
        else:
            msg = f"{self.prefix}  {res['status']}: {res.get('error') or ''}"
        self._show(msg + (f"  ({note})" if note else ""), final=True)

    def _show(self, text, final):
        text = printable(text, limit=10_000)  # labels and errors carry folder and class names
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        elif final:
            self.stream.write(text + "\n")
        self.stream.flush()


def cmd_run(args) -> int:
    from tlcompare.report import check_output, write_run_files
    from tlcompare.store import Store

    sweep = spec_from_args(args)
    check_output(args.out)  # a folder as --out is said now, not after the training
    if sweep.device != "auto":  # a GPU asked for on a machine without one: said before anything is stored
        from tlcompare.train.device import resolve_device

        resolve_device(sweep.device)
    started = time.perf_counter()
    store = Store()
    reports, failures = [], 0
    # A resolution sweep is one experiment per resolution, trained one after the other.
    for i, spec in enumerate(sweep.by_resolution()):
        exp_id, rep, failed = _run_one(spec, store, args, started, warn=sweep if i == 0 else None)
        reports.append(rep)
        failures += failed
    json_path, csv_path = write_run_files(reports, args.out)
    wall = time.perf_counter() - started
    ids = ", ".join(str(r.id) for r in reports)
    device = reports[-1].environment.get("device", "?")
    wrote = f"{printable(str(json_path))} and {printable(str(csv_path))}" if csv_path else printable(str(json_path))
    print(f"\nwrote {wrote} ({wall:.0f} s on {device}; "
          f"experiment{'s' if len(reports) > 1 else ''} {ids} in the store: `tlcompare show {reports[0].id}`)")
    return 1 if failures else 0


def _run_one(spec, store, args, started: float, warn=None):
    """Train one experiment (one resolution) in this process, print its summary: (id, report, runs that failed)."""
    from tlcompare.report.content import load_experiment
    from tlcompare.text.summaries import results_lines
    from tlcompare.worker.inprocess import InProcessExecutor
    from tlcompare.worker.process import WorkerHooks

    runs = spec.planned_runs()
    grid = f" x {len(spec.lr_rates('scratch'))} learning rates" if spec.tune != "none" else ""
    if spec.middle_sizes:
        grid += f" at {spec.end_sizes[0]} and {spec.end_sizes[-1]}/class, 1 between"
    print(f"tlcompare: {printable(spec.dataset)} / {spec.model} at {spec.image_size} px: {len(runs)} runs "
          f"({len(spec.sizes)} sizes x {len(spec.seeds)} seeds{grid}), budget {spec.budget}: {spec.budget_text()}; "
          f"validation {spec.validation}", file=sys.stderr)
    exp_id = store.create_experiment(spec, force=args.force)
    if warn is not None:
        warn_about(warn)
    progress = Progress()
    printed: set[int] = set()
    user_errors: list[str] = []

    def print_finished(note_for):
        # Runs this process did not train: reused results, or runs another worker took.
        for r in store.experiment_runs(exp_id):
            if r["run_id"] not in printed and r["status"] in ("done", "diverged", "failed", "cancelled"):
                printed.add(r["run_id"])
                progress.run_start(r["position"], len(runs), r["label"])
                progress.run_end(r, note_for(r))

    def run_start(claimed):
        printed.add(claimed["run_id"])
        progress.run_start(claimed["position"], claimed["n_runs"], claimed["label"])

    def run_end(claimed, outcome):
        progress.run_end(outcome)
        if outcome.get("user_error"):
            user_errors.append(outcome["error"])

    print_finished(lambda r: f"reused run {r['reused_from']}" if r["reused_from"] else "")
    hooks = WorkerHooks(on_run_start=run_start, on_epoch=lambda claimed, rec: progress.epoch(rec, spec.epochs if spec.budget == "epochs" else None),
                        on_run_end=run_end)
    try:
        InProcessExecutor(store, hooks=hooks).submit(exp_id)
    except BaseException:
        store.request_cancel(exp_id)  # nothing of this experiment keeps running behind the user's back
        raise
    print_finished(lambda r: f"reused run {r['reused_from']}" if r["reused_from"] else f"by worker {r['worker_id']}")
    if user_errors and len(user_errors) == len(runs):
        raise UserError(user_errors[0])  # e.g. the dataset is missing: say it once, as before

    # The same files `tlcompare report --format json|csv` writes, read back from the store; only the
    # wall time is this command's own (the store keeps training time, not how long the command took).
    rep = load_experiment(store, exp_id, fingerprint_fallback=False)
    rep.environment["wall_seconds"] = time.perf_counter() - started
    for line in results_lines(rep.view):
        print(line)
    failed = [r for r in rep.runs if r["status"] in ("failed", "cancelled")]
    if failed:
        print(f"tlcompare: {len(failed)} of {len(runs)} runs did not finish; see `tlcompare show {exp_id}`", file=sys.stderr)
    return exp_id, rep, len(failed)


def cmd_submit(args) -> int:
    from tlcompare.store import Store
    from tlcompare.worker.control import describe, ensure_worker, worker_state

    if args.file:
        args.config = args.file
    queued = 0
    if args.into is None:
        sweep = spec_from_args(args)  # refused before any store is opened
        store = Store()
        # A resolution sweep is one experiment per resolution: each id is printed, the last one as before.
        *others, spec = sweep.by_resolution()
        earlier_ids = [store.create_experiment(earlier, force=args.force) for earlier in others]
        exp_id = store.create_experiment(spec, force=args.force)
        warn_about(sweep)
        for earlier_id in earlier_ids:  # each resolution's counts: one of them may be reused whole, another queued
            queued += _say_submitted(store, earlier_id)
            print(earlier_id)
    else:
        # Start from the experiment's own settings, so `--into 3 --seeds 5` adds seeds and changes
        # nothing else by falling back to a default; what still differs is refused (store/extend.py).
        from tlcompare.spec import spec_from_dict

        store = Store()
        exp = store.get_experiment(args.into)
        if exp is None:
            raise UserError(f"no experiment {args.into} (see `tlcompare ls`)")
        spec = spec_from_args(args, spec_from_dict(exp["spec"]).to_dict())
        if len(spec.image_sizes) > 1:
            raise UserError("--into adds runs to one experiment, of one resolution: give one image_size "
                            "(a sweep is one experiment per resolution)")
        added = store.extend_experiment(args.into, spec, force=args.force)
        warn_about(spec)
        exp_id = args.into
        print(f"experiment {exp_id}: {added} new runs added", file=sys.stderr)
    queued += _say_submitted(store, exp_id)
    state = ensure_worker() if args.start_worker else worker_state()
    if state["alive"]:
        print(describe(state), file=sys.stderr)
    elif queued:
        print("no worker is running: start one with `tlcompare worker` (add --once to exit when the queue is empty)",
              file=sys.stderr)
    print(exp_id)
    return 0


def _say_submitted(store, exp_id: int) -> int:
    """'experiment 3: 24 runs, 0 reused from earlier results, 24 queued' on stderr; returns the queued count."""
    p = store.experiment_progress(exp_id)
    reused = sum(1 for r in store.experiment_runs(exp_id) if r["reused_from"])
    queued = p["counts"].get("queued", 0)
    print(f"experiment {exp_id}: {p['total']} runs, {reused} reused from earlier results, {queued} queued",
          file=sys.stderr)
    return queued


def cmd_worker(args) -> int:
    from tlcompare.worker.ray_address import check_reachable
    from tlcompare.worker.settings import seconds

    # Refused in a second, before torch and ray are imported: a nan that never exits, an address
    # that is not a Ray cluster (ray.init would retry it for minutes).
    if args.idle_exit is not None:
        seconds(args.idle_exit, "--idle-exit")
    for flag, value in (("--worker-id", args.worker_id), ("--slot", args.slot)):
        if value is not None and (not value or printable(value, None) != value or len(value) > 200):
            raise UserError(f"{flag} '{printable(value, 60)}': use up to 200 printable characters (no escapes or newlines)")
    if args.executor == "ray":
        check_reachable(args.address or os.environ.get("RAY_ADDRESS") or None)
    from tlcompare.store import Store
    from tlcompare.worker.process import Worker, WorkerConfig

    if args.executor == "ray":
        from tlcompare.worker.ray_driver import RayWorker

        worker = RayWorker(Store(args.db), address=args.address, runs_per_gpu=args.runs_per_gpu, actors=args.actors,
                           worker_id=args.worker_id, slot=args.slot,
                           config=WorkerConfig.from_env(idle_exit=args.idle_exit), local_cpus=args.local_cpus,
                           once=args.once, experiment_id=args.experiment)
        try:
            worker.serve()
        except UserError as e:
            if worker.fatal is None:
                raise
            # The cluster is gone: Ray's exit handlers would wait for it, so leave without them.
            print(f"tlcompare: error: {printable(str(e), limit=10_000)}", file=sys.stderr, flush=True)
            os._exit(EXIT_USER_ERROR)
        return 0
    if args.address or args.actors or args.runs_per_gpu != 1:
        raise UserError("--address, --actors and --runs-per-gpu need --executor ray")

    worker = Worker(Store(args.db), device=args.device, worker_id=args.worker_id, slot=args.slot,
                    experiment_id=args.experiment, config=WorkerConfig.from_env(idle_exit=args.idle_exit))
    worker.install_signal_handlers()
    worker.serve(once=args.once)
    return 0


def cmd_workers(args) -> int:
    from tlcompare.store import Store
    from tlcompare.text.summaries import workers_table

    store = Store()
    if args.stop is not None:
        n = store.request_worker_stop(args.stop or None)
        print(f"asked {n} worker(s) to stop; a run in progress goes back to the queue", file=sys.stderr)
        return 0
    if args.start:
        from tlcompare.worker.local import LocalExecutor

        devices = [d.strip() for d in args.devices.split(",")] if args.devices else [None]
        LocalExecutor(devices, args.per_device, store=store).submit()
        time.sleep(0.5)
    print(workers_table(store.list_workers()))
    return 0


def cmd_ls(args) -> int:
    from tlcompare.store import Store, default_path
    from tlcompare.text.summaries import experiments_table

    if not default_path().exists():  # a listing never creates a store
        print(experiments_table([]))
        return 0
    print(experiments_table(Store(read_only=True).list_experiments()))
    return 0


def cmd_show(args) -> int:
    from tlcompare.store import Store, default_path
    from tlcompare.text.summaries import experiment_report

    store = Store(read_only=True) if default_path().exists() else None
    exp = store.get_experiment(args.id) if store else None
    if exp is None:
        raise UserError(f"no experiment {args.id} (see `tlcompare ls`)")
    if exp["damaged"]:
        raise UserError(exp["damaged"])
    if exp["environment_damage"]:
        print(f"warning: {printable(exp['environment_damage'])}", file=sys.stderr)
    target = getattr(args, "target", None)
    if target is not None:
        target = target / 100 if target > 1 else target
        if not 0 < target <= 1:
            raise UserError(f"--target {args.target}: give a test accuracy in % (90) or as a fraction (0.9), above 0")
    print(experiment_report(exp, store.experiment_progress(args.id), store.experiment_runs(args.id, test_correct=True),
                            target=target))
    return 0


def cmd_cancel(args) -> int:
    from tlcompare.store import Store

    n = Store().request_cancel(args.id)
    print(f"experiment {args.id}: cancel requested for {n} run(s); a running run stops within seconds", file=sys.stderr)
    return 0


def cmd_resume(args) -> int:
    from tlcompare.store import Store
    from tlcompare.worker.control import describe, ensure_worker

    store = Store()
    n = store.resume_experiment(args.id)
    if n == 0:
        raise UserError(f"experiment {args.id} has no cancelled runs to resume (see `tlcompare show {args.id}`)")
    print(f"experiment {args.id}: {n} cancelled run(s) queued again; finished runs are kept", file=sys.stderr)
    if args.start_worker:
        print(describe(ensure_worker(store=store)), file=sys.stderr)
    else:
        print("start a worker with `tlcompare worker`, or add --start-worker", file=sys.stderr)
    return 0


def cmd_delete(args) -> int:
    from tlcompare.store import Store

    Store().delete_experiment(args.id)
    print(f"experiment {args.id} deleted", file=sys.stderr)
    return 0


def cmd_datasets(args) -> int:
    from tlcompare.data import DATASETS

    for info in DATASETS.values():
        reason = info.unavailable_reason(args.data_root)
        state = "available offline" if reason is None else f"not on this machine: {reason}"
        nc = "  [non-commercial licence]" if info.non_commercial else ""
        print(f"{info.name:<14} {info.title}: {info.num_images} images, {info.image_size}, {info.num_classes} classes{nc}")
        print(f"{'':<14} {state}")
    return 0


def cmd_models(args) -> int:
    from tlcompare.models import list_models

    for m in list_models():
        reason = m.weights_unavailable()
        state = "pretrained weights available offline" if reason is None else f"pretrained weights: {reason}"
        print(f"{m.name:<20} {m.title}; {len(m.stage_names)} freezable stages: {', '.join(m.stage_names)}")
        print(f"{'':<20} {state}")
    return 0


def cmd_inspect(args) -> int:
    from tlcompare.data.inspect import inspect_command

    return inspect_command(args.source, sizes=args.sizes, strict=args.strict, data_root=args.data_root,
                           image_size=args.image_size, as_json=args.json)


def cmd_store(args) -> int:
    from tlcompare.store import Store

    # Both only read the store: never created, migrated or switched to WAL (a damaged one is opened
    # as it is, to describe the damage or save what is readable).
    store = Store(args.db, read_only=True, verify=False)
    if args.action == "backup":
        if not args.dest:
            raise UserError("store backup: give the file to write, e.g. `tlcompare store backup copy.db`")
        print(f"wrote {printable(str(store.backup(args.dest)))}", file=sys.stderr)
        return 0
    found = store.integrity_check()
    if found == "ok":
        store.require_tlcompare()  # a sound SQLite file of another program is not an "ok" store
        damaged = [e["damaged"] for e in store.list_experiments() if e["damaged"]]
        if damaged:  # sound pages, rows that cannot be read: name each, the rest of the store is fine
            for line in damaged:
                print(f"tlcompare: error: {printable(line)}", file=sys.stderr)
            return EXIT_USER_ERROR
        print(f"{printable(str(store.path))}: ok" + ("" if os.access(store.path, os.W_OK) else " (read-only)"))
        return 0
    print(f"tlcompare: error: the store '{printable(str(store.path))}' is damaged:", file=sys.stderr)
    print(printable(found, limit=10_000, keep_newlines=True), file=sys.stderr)
    print("save what is readable with `tlcompare store backup COPY.db`, then move the damaged file aside", file=sys.stderr)
    return EXIT_USER_ERROR


def cmd_report(args) -> int:
    from tlcompare.report import check_output, write_report
    from tlcompare.store import Store

    if args.out and args.out != "-":
        check_output(args.out)
    where = write_report(Store(read_only=True), args.ids, args.format, args.out)
    if where != "stdout":
        print(f"wrote {printable(where)}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tlcompare", description="Fine-tune a pretrained model or train from scratch? Measured on your data.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run a paired comparison in this process and write JSON + CSV")
    _add_spec_flags(p)
    p.add_argument("--out", default="results.json", help="JSON output path (the report's JSON); the CSV goes beside it")
    p.add_argument("--force", action="store_true", help="train runs again even when identical ones finished before")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("submit", help="queue an experiment in the store and print its id")
    p.add_argument("file", nargs="?", help="experiment TOML file (the same as --config)")
    _add_spec_flags(p)
    p.add_argument("--force", action="store_true", help="train runs again even when identical ones finished before")
    p.add_argument("--into", type=experiment_id, metavar="ID", help="add sizes, freezing depths and seeds to experiment ID (its other settings stay; a different one is refused)")
    p.add_argument("--start-worker", action="store_true", help="start a background worker unless one is alive")
    p.set_defaults(func=cmd_submit)
    p = sub.add_parser("worker", help="claim queued runs and train them (one process per device)")
    p.add_argument("--device", help="use this device for every run (cuda:0, cpu); default: each experiment's own")
    p.add_argument("--once", action="store_true", help="exit when nothing is left in the queue")
    p.add_argument("--experiment", type=experiment_id, metavar="ID", help="take runs of this experiment only")
    p.add_argument("--idle-exit", metavar="SECONDS", help="exit after this long with nothing to do")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="ray: dispatch runs to a Ray cluster (docs/scale-out.md); this process stays the store's writer")
    p.add_argument("--address", help="with --executor ray: the cluster to join (default: RAY_ADDRESS, else a local one)")
    p.add_argument("--runs-per-gpu", type=int, default=1, metavar="K", help="with --executor ray: K runs share each GPU")
    p.add_argument("--actors", type=int, metavar="N", help="with --executor ray: N runs at once (default: what fits)")
    p.add_argument("--local-cpus", type=int, help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    p.add_argument("--worker-id", help=argparse.SUPPRESS)
    p.add_argument("--slot", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_worker)
    p = sub.add_parser("workers", help="list workers; start background ones or stop them")
    p.add_argument("--start", action="store_true", help="start background workers unless alive (logs in TLCOMPARE_HOME/logs)")
    p.add_argument("--devices", help="with --start: comma-separated devices, one worker set each (cuda:0,cuda:1)")
    p.add_argument("--per-device", type=int, default=1, help="with --start: workers per device")
    p.add_argument("--stop", nargs="?", const="", metavar="WORKER", help="ask one worker (default: all) to stop")
    p.set_defaults(func=cmd_workers)
    p = sub.add_parser("ls", help="list experiments in the store")
    p.set_defaults(func=cmd_ls)
    for name, func, text in (("show", cmd_show, "status, progress and results of one experiment"),
                             ("cancel", cmd_cancel, "cancel an experiment's queued and running runs"),
                             ("delete", cmd_delete, "delete an experiment and its results from the store")):
        p = sub.add_parser(name, help=text)
        p.add_argument("id", type=experiment_id, metavar="ID")
        if name == "show":
            p.add_argument("--target", type=float, metavar="ACC",
                           help="test accuracy (in %%, or a fraction) for the images per class each arm needs "
                                "(default: the best pretrained accuracy measured)")
        p.set_defaults(func=func)
    p = sub.add_parser("resume", help="queue an experiment's cancelled runs again, keeping its finished runs")
    p.add_argument("id", type=experiment_id, metavar="ID")
    p.add_argument("--start-worker", action="store_true", help="start a background worker unless one is alive")
    p.set_defaults(func=cmd_resume)
    p = sub.add_parser("datasets", help="list built-in datasets and whether they are available offline")
    p.add_argument("--data-root")
    p.set_defaults(func=cmd_datasets)
    p = sub.add_parser("models", help="list backbones, their stages and whether their weights are available offline")
    p.set_defaults(func=cmd_models)
    p = sub.add_parser("inspect", help="check a dataset before training: counts, sizes, duplicates, unreadable files")
    p.add_argument("source", help="a built-in name, imagefolder:PATH, zip:PATH or torchvision:NAME")
    p.add_argument("--sizes", help="training images per class you plan to try (5,20,100): exit 2 if a class is too small")
    p.add_argument("--strict", action="store_true", help="exit 2 when any image is unreadable (default: skip and report)")
    p.add_argument("--image-size", type=int, help="training resolution you plan to use (decides the stored size)")
    p.add_argument("--data-root", help="folder holding raw dataset files (torchvision layout)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_inspect)
    p = sub.add_parser("store", help="check the store file for damage, or back it up")
    p.add_argument("action", choices=["check", "backup"])
    p.add_argument("dest", nargs="?", help="with backup: the new file to write")
    p.add_argument("--db", help="the store file (default: TLCOMPARE_HOME/tlcompare.db)")
    p.set_defaults(func=cmd_store)
    p = sub.add_parser("report", help="write a report of experiments: html, pdf, csv, json, md (Markdown) or tex (LaTeX)")
    p.add_argument("ids", nargs="+", type=experiment_id, metavar="ID", help="experiments to report on; several are overlaid")
    p.add_argument("--format", choices=["html", "pdf", "csv", "json", "md", "tex"],
                   help="default: from the extension of --out, else html")
    p.add_argument("--out", help="output file (default tlcompare-report-ID.FORMAT); - writes a text format to stdout")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Before anything imports torch: OpenMP reads its wait policy once, when torch loads it.
    record_wait_policy()
    from tlcompare.logs import setup

    setup()  # timestamped lines for what the worker and the data cache log
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SpecError as e:
        for problem in e.problems:
            print(f"tlcompare: error: {printable(problem, limit=10_000)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except UserError as e:
        print(f"tlcompare: error: {printable(str(e), limit=10_000)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("tlcompare: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `tlcompare show 1 | head -1`: the reader has gone; leave quietly, as Unix tools do.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except sqlite3.DatabaseError as e:  # the store file, met outside the store's own translation
        from tlcompare.store import default_path
        from tlcompare.store.errors import translate

        message = translate(Path(getattr(args, "db", None) or default_path()), e)
        if message is None or os.environ.get("TLCOMPARE_DEBUG"):
            raise
        print(f"tlcompare: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as e:  # the file system refused a path (too long, no permission) that no check named first
        if os.environ.get("TLCOMPARE_DEBUG"):
            raise
        where = f" '{printable(str(e.filename), 120)}'" if e.filename else ""
        print(f"tlcompare: error: cannot use{where}: {e.strerror or e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as e:  # a bug: still one line, with the way to get the details
        if os.environ.get("TLCOMPARE_DEBUG"):
            raise
        print(f"tlcompare: internal error: {type(e).__name__}: {printable(str(e), 300)} (set TLCOMPARE_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1
