"""Levers for launch-bound small batches, compared in one process: one fixed-shape training step
(bf16 autocast and channels_last on CUDA, AdamW, as in tlcompare's loop) timed

- ``eager``: as the loop runs it today;
- ``eager-bigbatch``: the same step at a larger batch (``--big-batch``);
- ``cuda-graph``: the whole step (forward, backward, optimizer) captured once and replayed;
- ``compile``: ``torch.compile`` of the model with fixed shapes (its warm-up time reported apart);
- ``processes-N``: N processes training at once on the same GPU, images/s summed over a window
  they all share (``--processes``), and the count a short probe would choose for ``--runs-per-gpu auto``.

    python benchmarks/levers.py --json levers.json                     # GPU
    python benchmarks/levers.py --device cpu --image-size 16 --batch 8 --big-batch 16 --processes 1,2

CUDA graphs exist only on CUDA; ``torch.compile`` is measured only on CUDA (on a small CPU it takes
minutes to compile): on the CPU both are reported as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parent.parent


def make_step(model_name: str, image_size: int, batch: int, device: torch.device, compiled: bool = False):
    """A training step on a fixed random batch, and the tensors it reads (for graph capture)."""
    from tlcompare.models import create_backbone

    cuda = device.type == "cuda"
    net = create_backbone(model_name, num_classes=10, pretrained=False, in_chans=3).model.to(device).train()
    if cuda:
        net = net.to(memory_format=torch.channels_last)
    fwd = torch.compile(net, dynamic=False) if compiled else net
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, image_size, image_size, generator=gen).to(device)
    if cuda:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), generator=gen).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, capturable=cuda)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        # cache_enabled=False: autocast's cast cache must not outlive a captured graph
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda, cache_enabled=False):
            loss = loss_fn(fwd(x).float(), y)
        opt.zero_grad(set_to_none=False)  # gradients stay allocated: a captured graph reuses their memory
        loss.backward()
        opt.step()
        return loss

    return step


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step, device: torch.device, warmup: int, seconds: float) -> tuple[float, int]:
    """Seconds per step over at least ``seconds`` after ``warmup`` steps; and the steps timed."""
    for _ in range(warmup):
        step()
    sync(device)
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        n += 1
        if n % 5 == 0:
            sync(device)
            if time.perf_counter() - t0 >= seconds:
                return (time.perf_counter() - t0) / n, n


def graphed(step, device: torch.device, warmup: int = 3):
    """The step captured once as a CUDA graph; calling the result replays it."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):  # warm-up on a side stream, as capture requires
        for _ in range(warmup):
            step()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay


def measure(name: str, model: str, image_size: int, batch: int, device: torch.device, seconds: float) -> dict:
    row = {"lever": name, "model": model, "image_size": image_size, "batch": batch}
    cuda = device.type == "cuda"
    if name in ("cuda-graph", "compile") and not cuda:
        return {**row, "skipped": f"{name} is measured only on CUDA (this device: {device})"}
    t0 = time.perf_counter()
    step = make_step(model, image_size, batch, device, compiled=name == "compile")
    if name == "cuda-graph":
        step = graphed(step, device)
    step()  # compile happens here for 'compile'
    sync(device)
    row["warmup_seconds"] = round(time.perf_counter() - t0, 1)
    per_step, n = time_steps(step, device, warmup=3, seconds=seconds)
    return {**row, "ms_per_step": round(1000 * per_step, 2), "images_per_sec": round(batch / per_step), "steps": n}


def single(args) -> None:
    """One of several processes: warm up, say ready, wait for the shared start time, time the window."""
    device = torch.device(args.device)
    step = make_step(args.model, args.image_size, args.batch, device)
    for _ in range(5):
        step()
    sync(device)
    print("ready", flush=True)
    start_at = float(sys.stdin.readline())
    time.sleep(max(0.0, start_at - time.time()))
    n, t0 = 0, time.perf_counter()
    while time.time() < start_at + args.seconds:
        step()
        n += 1
        if n % 5 == 0:
            sync(device)
    sync(device)
    print(json.dumps({"images": n * args.batch, "seconds": time.perf_counter() - t0}), flush=True)


def processes(count: int, args, device: torch.device) -> dict:
    """``count`` processes at once; images/s summed over one window they share: each warms up
    (model build, kernel selection) and says so, then all get the same start time."""
    cmd = [sys.executable, __file__, "--single", "--device", str(device), "--model", args.model, "--image-size",
           str(args.image_size), "--batch", str(args.batch), "--seconds", str(args.seconds)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    procs = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(count)]
    ready = [p.stdout.readline().strip() == "ready" for p in procs]
    start_at = time.time() + 0.5
    for p in procs:  # every process gets the start time before any is waited for
        p.stdin.write(f"{start_at}\n")
        p.stdin.flush()
    outs = [p.communicate()[0] for p in procs]
    row = {"lever": f"processes-{count}", "model": args.model, "image_size": args.image_size, "batch": args.batch}
    if not all(ready) or any(p.returncode for p in procs):
        return {**row, "failed": [p.returncode for p in procs]}
    done = [json.loads(o.strip().splitlines()[-1]) for o in outs]
    return {**row, "images_per_sec": round(sum(d["images"] / d["seconds"] for d in done)),
            "per_process": [round(d["images"] / d["seconds"]) for d in done]}


def auto_count(rows: list[dict], gain: float = 1.1) -> int | None:
    """What ``--runs-per-gpu auto`` would choose: the count after which the next step up adds
    under 10 % images/s (one process at the default batch: the ``eager`` row, unless measured)."""
    measured = {int(r["lever"].split("-")[1]): r["images_per_sec"] for r in rows
                if r["lever"].startswith("processes-") and "images_per_sec" in r}
    eager = [r for r in rows if r["lever"] == "eager" and "images_per_sec" in r]
    if measured and eager:
        measured.setdefault(1, eager[0]["images_per_sec"])
    measured = sorted(measured.items())
    if not measured:
        return None
    best = measured[0][0]
    for (_, prev), (n, ips) in zip(measured, measured[1:], strict=False):
        if ips < prev * gain:
            break
        best = n
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--big-batch", type=int, default=256)
    p.add_argument("--seconds", type=float, default=3.0, help="timed window per lever")
    p.add_argument("--levers", default="eager,eager-bigbatch,cuda-graph,compile")
    p.add_argument("--processes", default="4,8", help="process counts to try at once ('' for none)")
    p.add_argument("--json")
    p.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.single:
        return single(args)

    from tlcompare.train import describe_device, resolve_device

    device = resolve_device(args.device)
    out = {"device": describe_device(device), "date": datetime.date.today().isoformat(), "torch": torch.__version__,
           "args": vars(args), "complete": False, "rows": []}

    def record(row: dict) -> None:  # after every row: a run stopped by a time limit keeps what it measured
        out["rows"].append(row)
        print(json.dumps(row), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1))

    levers = args.levers.split(",")
    # torch.compile's warm-up is by far the longest (about a minute): it goes last, after the processes.
    for lever in [lv for lv in levers if lv != "compile"]:
        batch = args.big_batch if lever == "eager-bigbatch" else args.batch
        record(measure(lever, args.model, args.image_size, batch, device, args.seconds))
    for count in (int(c) for c in args.processes.split(",") if c):
        record(processes(count, args, device))
    if "compile" in levers:
        record(measure("compile", args.model, args.image_size, args.batch, device, args.seconds))
    out["runs_per_gpu_auto_would_choose"] = auto_count(out["rows"])
    out["complete"] = True
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
