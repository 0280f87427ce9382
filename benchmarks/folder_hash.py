"""What keying an image folder by its bytes costs: the first look hashes every file, later looks
at an unchanged folder stat it (tlcompare/data/file_hashes.py).

Writes N JPEG images (photo-like noise, 2 classes) into a temporary folder, then times
``scan_folder`` (the walk plus the hashes, what ``build_spec`` and the decode cache call) three
ways: first look (the files are in the page cache, having just been written), a second look at the
unchanged folder, and with --drop-caches (root only; it empties the page cache of the whole machine)
a first look that reads from the disk.

    python benchmarks/folder_hash.py --images 10000 --json folder-hash.json
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_folder(root: Path, n: int, side: int) -> int:
    rng = np.random.default_rng(0)
    total = 0
    base = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    for i in range(n):
        folder = root / ("cat" if i % 2 else "dog")
        folder.mkdir(parents=True, exist_ok=True)
        img = np.roll(base, i, axis=1) // 2 + rng.integers(0, 128, (side, side, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=85)
        (folder / f"{i}.jpg").write_bytes(buf.getvalue())
        total += len(buf.getvalue())
    return total


def timed_scan(root: Path) -> float:
    from tlcompare.data.imagefolder import scan_folder

    t0 = time.perf_counter()
    scan_folder(root)
    return time.perf_counter() - t0


def drop_page_cache() -> bool:
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--side", type=int, default=128, help="pixels per side of each JPEG")
    p.add_argument("--drop-caches", action="store_true", help="also time a first look from the disk (root)")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="folder-hash-"))
    os.environ["TLCOMPARE_HOME"] = str(work / "home")
    try:
        data = make_folder(work / "images", args.images, args.side)
        from tlcompare.data.file_hashes import memo_path

        warm = timed_scan(work / "images")
        memo = memo_path(work / "images")
        memo_bytes = memo.stat().st_size
        again = timed_scan(work / "images")
        memo.unlink()
        cold = timed_scan(work / "images") if args.drop_caches and drop_page_cache() else None
        out = {
            "date": datetime.date.today().isoformat(), "images": args.images, "bytes": data,
            "cpus": os.cpu_count(), "load_before": os.getloadavg(),
            "first_look_page_cache_warm_s": round(warm, 2),
            "first_look_page_cache_dropped_s": None if cold is None else round(cold, 2),
            "unchanged_folder_s": round(again, 3), "memo_file_bytes": memo_bytes,
        }
        print(json.dumps(out, indent=1))
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
