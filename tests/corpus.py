"""Builders for the bad inputs real users send: damaged images, odd formats, hostile zips.

Everything is made with PIL and zipfile in a temporary folder; nothing is downloaded.
"""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

RED, BLUE = (220, 20, 20), (20, 20, 220)


def solid(path: Path, color=(120, 60, 30), size=(24, 20), fmt=None, mode="RGB", **save) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path, format=fmt, **save)
    return path


def noisy(path: Path, seed: int, size=(24, 20)) -> Path:
    """A photo-like image: distinct bytes for every seed, so no two are duplicates."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def good_folder(root: Path, classes=("cat", "dog"), per_class=12, size=(24, 20)) -> Path:
    for c, name in enumerate(classes):
        for i in range(per_class):
            noisy(root / name / f"{i}.png", seed=1000 * c + i, size=size)
    return root


def truncated_jpeg(path: Path) -> Path:
    noisy(path.with_suffix(".tmp.png"), 7, (64, 64))
    buf = io.BytesIO()
    Image.open(path.with_suffix(".tmp.png")).save(buf, "JPEG", quality=90)
    path.with_suffix(".tmp.png").unlink()
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


def corrupt_png(path: Path) -> Path:
    """A real PNG with its compressed pixel data scrambled."""
    noisy(path, 11, (32, 32))
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT") + 4
    data[start : start + 2] = b"\xff\xff"  # not a zlib stream header
    path.write_bytes(bytes(data))
    return path


def png_16bit(path: Path, value: int = 257 * 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.full((20, 24), value, dtype=np.uint16)
    a[0, 0] = 65535
    Image.fromarray(a).save(path)
    assert Image.open(path).mode.startswith("I")  # really stored as 16-bit
    return path


def cmyk_jpeg(path: Path) -> Path:
    # Pure red in CMYK: no cyan, full magenta and yellow, no black.
    return solid(path, (0, 255, 255, 0), fmt="JPEG", mode="CMYK", quality=95)


def palette_png(path: Path, transparent: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.new("RGB", (24, 20), RED)
    im.paste(BLUE, (0, 0, 12, 20))
    p = im.convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    if transparent:
        p.save(path, transparency=p.getpixel((0, 0)))  # the blue half becomes transparent
    else:
        p.save(path)
    return path


def rgba_png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.new("RGBA", (24, 20), (0, 0, 0, 0))  # fully transparent black
    im.paste((*RED, 255), (0, 0, 12, 20))
    im.save(path)
    return path


def exif_rotated_jpeg(path: Path) -> Path:
    """Stored 40x20 with red on top and blue below, tagged 'rotate 90 clockwise to view' (orientation 6)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.new("RGB", (40, 20), BLUE)
    im.paste(RED, (0, 0, 40, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(path, "JPEG", quality=95, exif=exif.tobytes())
    return path


def huge_header_png(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims width x height pixels: what a decompression bomb looks like to PIL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))
    return path


# -- zips --------------------------------------------------------------------------------------------
def zip_of_folder(folder: Path, dest: Path, wrapper: str | None = None) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                rel = f.relative_to(folder).as_posix()
                zf.write(f, f"{wrapper}/{rel}" if wrapper else rel)
    return dest


def zip_with_entries(dest: Path, entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return dest


def zip_bomb(dest: Path, megabytes: int = 4) -> Path:
    """One entry of zeros: deflate shrinks it about a thousandfold."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("cat/bomb.bmp", bytes(megabytes * 2**20))
        zf.writestr("dog/ok.txt", b"hello")
    return dest


def many_small_bombs_zip(dest: Path, entries: int = 120) -> Path:
    """Entries of exactly 1 MiB of zeros each: every one is at the per-entry ratio floor, the whole
    archive expands about 900-fold."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(entries):
            zf.writestr(f"{('cat', 'dog')[i % 2]}/{i}.bmp", bytes(2**20))
    return dest


def overlapping_zip(dest: Path) -> Path:
    """Two names pointing at the same compressed data (the overlapping-entries bomb in miniature)."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("cat/a.png", b"x" * 1000)
    data = bytearray(dest.read_bytes())
    cd = data.index(b"PK\x01\x02")
    eocd = data.index(b"PK\x05\x06")
    record = bytes(data[cd:eocd])
    twin = bytearray(record)
    name_len = struct.unpack("<H", twin[28:30])[0]
    twin[46 : 46 + name_len] = b"dog/a.png"[:name_len].ljust(name_len, b"_")
    new_cd = record + bytes(twin)
    end = bytearray(data[eocd:])
    end[8:10] = struct.pack("<H", 2)
    end[10:12] = struct.pack("<H", 2)
    end[12:16] = struct.pack("<I", len(new_cd))
    dest.write_bytes(bytes(data[:cd]) + new_cd + bytes(end))
    return dest


def lying_size_zip(dest: Path) -> Path:
    """An entry whose headers claim 1,000 bytes while its data inflates to 2 MiB."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("cat/a.png", bytes(2 * 2**20))
        zf.writestr("dog/b.png", b"fine")
    data = bytearray(dest.read_bytes())
    local = data.index(b"PK\x03\x04")
    data[local + 22 : local + 26] = struct.pack("<I", 1000)
    cd = data.index(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = struct.pack("<I", 1000)
    dest.write_bytes(bytes(data))
    return dest


def encrypted_flag_zip(dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        zf.writestr("cat/a.png", b"secret")
    data = bytearray(dest.read_bytes())
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = data.index(sig)
        data[i + off] |= 0x1
    dest.write_bytes(bytes(data))
    return dest


def tree(*roots: Path) -> dict[str, bytes]:
    """Every file under ``roots`` with its content: compare before and after to see what was written."""
    out = {}
    for root in roots:
        for f in sorted(Path(root).rglob("*")):
            if f.is_file() or f.is_symlink():
                out[str(f)] = f.read_bytes() if f.is_file() else b"<link>"
    return out


# -- damaged experiment stores ---------------------------------------------------------------------
# How real store files get damaged: a copy cut short (full disk, interrupted sync), garbage written
# over the middle (a bad disk, another program), a file from a newer tlcompare, a path that cannot be
# opened as a file at all, a file that is not SQLite.
STORE_DAMAGE = ("truncated", "garbage", "future_schema", "unopenable", "not_sqlite")


def damaged_store(sound: Path, dest: Path, kind: str) -> Path:
    """A copy of the sound, checkpointed store file ``sound`` at ``dest``, damaged as ``kind`` says."""
    import sqlite3

    dest.parent.mkdir(parents=True, exist_ok=True)
    if kind == "unopenable":
        dest.mkdir()  # a folder where the file should be
        return dest
    data = bytearray(sound.read_bytes())
    if kind == "truncated":
        data = data[: len(data) // 3]
    elif kind == "garbage":
        start, end = len(data) // 4, 3 * len(data) // 4  # page 1 (the header) stays intact
        data[start:end] = np.random.default_rng(0).integers(0, 256, end - start, dtype=np.uint8).tobytes()
    elif kind == "not_sqlite":
        data = bytearray(b"these are my notes, not a database\n" * 200)
    dest.write_bytes(bytes(data))
    if kind == "future_schema":
        con = sqlite3.connect(dest)
        con.execute("PRAGMA user_version = 99")
        con.close()
    return dest
