"""Untrusted zips: every hostile archive is refused with a clear message and writes nothing."""

import errno
import io
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from corpus import (
    encrypted_flag_zip,
    good_folder,
    lying_size_zip,
    many_small_bombs_zip,
    overlapping_zip,
    tree,
    zip_bomb,
    zip_of_folder,
    zip_with_entries,
)
from helpers import tlc

from tlcompare.data import check_source, load_dataset, safe_zip
from tlcompare.data.safe_zip import ZipLimits, extract_zip
from tlcompare.data.upload import MAX_UPLOAD_MB, UPLOAD_LIMITS, receive_upload
from tlcompare.errors import SpecError, UnsafeArchive, UserError
from tlcompare.spec import build_spec

HOSTILE = {
    "dot-dot": (lambda d: zip_with_entries(d / "a.zip", {"cat/1.png": b"1", "../escaped.txt": b"x"}),
                UnsafeArchive, "entry '../escaped.txt' points outside the archive's folder with '..'"),
    "dot-dot-nested": (lambda d: zip_with_entries(d / "a.zip", {"cat/../../escaped.txt": b"x"}),
                       UnsafeArchive, "points outside the archive's folder"),
    "windows-dot-dot": (lambda d: zip_with_entries(d / "a.zip", {"cat\\..\\..\\escaped.txt": b"x"}),
                        UnsafeArchive, "points outside the archive's folder"),
    "absolute": (lambda d: zip_with_entries(d / "a.zip", {str(d / "escaped.txt"): b"x"}),
                 UnsafeArchive, "is an absolute path"),
    "drive-letter": (lambda d: zip_with_entries(d / "a.zip", {"C:/escaped.txt": b"x"}), UnsafeArchive, "is an absolute path"),
    "symlink": (lambda d: zip_with_entries(d / "a.zip", {"cat/1.png": b"1"}, symlinks={"dog/2.png": "/etc/passwd"}),
                UnsafeArchive, "entry 'dog/2.png' is a symbolic link"),
    "bomb": (lambda d: zip_bomb(d / "a.zip"), UnsafeArchive, "over the limit of 200:1 (a zip bomb?)"),
    # 120 entries of exactly 1 MiB of zeros: none is over the per-entry floor, the archive is ~900:1.
    "many-small-bombs": (lambda d: many_small_bombs_zip(d / "a.zip"), UnsafeArchive,
                         "its 120 files expand 1015-fold together (121.1 KiB to 120.0 MiB), over the limit of 200:1"),
    "overlapping-bomb": (lambda d: overlapping_zip(d / "a.zip"), UnsafeArchive, "overlap (a zip bomb technique)"),
    "duplicate-name": (lambda d: zip_with_entries(d / "a.zip", {"cat/1.png": b"1", "cat/./1.png": b"2"}),
                       UnsafeArchive, "appears twice"),
    # A hostile name must not recolour the terminal or forge a line of the message: shown escaped.
    "control-chars": (lambda d: zip_with_entries(d / "a.zip", {"cat/1.png": b"1", "../\x1b[31mred\n.png": b"2"}),
                      UnsafeArchive, "entry '../\\x1b[31mred\\n.png'"),
    "password": (lambda d: encrypted_flag_zip(d / "a.zip"), UserError, "password-protected"),
    "not-a-zip": (lambda d: (d / "a.zip").write_bytes(b"PK but not really") and d / "a.zip", UserError, "not a zip archive"),
}


@pytest.fixture
def stored(tlcompare_home, tmp_path):
    """Something already in the home that a refused archive must leave alone."""
    earlier = extract_zip(zip_of_folder(good_folder(tmp_path / "earlier", per_class=2), tmp_path / "earlier.zip"))
    (tlcompare_home / "store.db").write_bytes(b"results")
    return earlier


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_archives_are_refused_and_write_nothing(case, tmp_path, tlcompare_home, stored):
    make, error, message = HOSTILE[case]
    work = tmp_path / "work"
    work.mkdir()
    archive = make(work)
    before = tree(tmp_path, tlcompare_home)
    with pytest.raises(error) as e:
        extract_zip(archive)
    assert message in str(e.value) and "\n" not in str(e.value) and "\x1b" not in str(e.value)
    assert tree(tmp_path, tlcompare_home) == before  # nothing written, nothing stored lost
    assert list((tlcompare_home / "uploads").iterdir()) == [stored.parent]  # not even a temporary folder
    assert not (tmp_path / "escaped.txt").exists() and not (tlcompare_home / "escaped.txt").exists()
    # The same refusal reaches the spec, before any run is queued.
    with pytest.raises(SpecError) as e:
        build_spec({"dataset": f"zip:{archive}"})
    assert message in e.value.problems[0]


def test_a_good_zip_is_extracted_once_into_a_content_addressed_folder(tmp_path, tlcompare_home):
    archive = zip_of_folder(good_folder(tmp_path / "photos", per_class=2), tmp_path / "photos.zip")
    first = extract_zip(archive)
    assert first.parent.parent == tlcompare_home / "uploads" and first.name == "photos"  # names the dataset
    assert sorted(os.listdir(first)) == ["cat", "dog"]
    stamp = (first / "cat" / "0.png").stat().st_mtime_ns
    assert extract_zip(archive.read_bytes(), name="photos") == first  # bytes, as an upload arrives
    assert extract_zip(io.BytesIO(archive.read_bytes()), name="photos") == first
    renamed = extract_zip(archive.read_bytes(), name="../../My photos?")  # the uploader picks the name
    assert renamed.parent == first.parent and renamed.name == "My photos"
    assert (first / "cat" / "0.png").stat().st_mtime_ns == stamp  # not extracted again
    assert check_source(f"zip:{archive}") is None


@pytest.mark.parametrize("limits, message", [
    (ZipLimits(max_files=3), "4 files, over the limit of 3"),
    (ZipLimits(max_total_bytes=100), "over the limit of 100 bytes"),
    (ZipLimits(max_archive_bytes=100), "over the limit of 100 bytes per archive"),
])
def test_size_and_count_limits(tmp_path, tlcompare_home, limits, message):
    archive = zip_of_folder(good_folder(tmp_path / "photos", per_class=2), tmp_path / "photos.zip")
    with pytest.raises(UnsafeArchive) as e:
        extract_zip(archive, limits=limits)
    assert message in str(e.value)
    assert list((tlcompare_home / "uploads").iterdir()) == []


def test_headers_that_understate_the_size_are_caught_while_streaming(tmp_path, tlcompare_home):
    archive = lying_size_zip(tmp_path / "lying.zip")
    with pytest.raises(UserError) as e:
        extract_zip(archive)
    assert "is damaged: entry 'cat/a.png'" in str(e.value) and "has been removed" in str(e.value)
    assert list((tlcompare_home / "uploads").iterdir()) == []  # the partial extraction is gone
    with zipfile.ZipFile(archive) as zf:  # and the stream never produced more than the header said
        assert zf.getinfo("cat/a.png").file_size == 1000


def test_a_full_disk_is_a_clear_message_and_leaves_nothing(tmp_path, tlcompare_home, monkeypatch):
    archive = zip_of_folder(good_folder(tmp_path / "photos", per_class=3), tmp_path / "photos.zip")

    class FullDisk:
        """A file that is created, then cannot take a single byte."""

        def __init__(self, path):
            path.touch()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safe_zip, "_open_output", FullDisk)
    with pytest.raises(UserError) as e:
        extract_zip(archive)
    assert "the disk filled up while extracting 'photos.zip'" in str(e.value)
    assert list((tlcompare_home / "uploads").iterdir()) == []

    monkeypatch.setattr(safe_zip.shutil, "disk_usage", lambda path: SimpleNamespace(free=1000))
    with pytest.raises(UserError) as e:
        extract_zip(archive)
    assert "not enough disk space to extract 'photos.zip'" in str(e.value) and "TLCOMPARE_HOME" in str(e.value)


def test_cli_refuses_a_hostile_zip_with_exit_2(tmp_path, tlcompare_home, capsys):
    archive = HOSTILE["dot-dot"][0](tmp_path)
    before = tree(tmp_path)
    p = tlc("inspect", f"zip:{archive}", capsys=capsys)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip() == ("tlcompare: error: 'a.zip' refused: entry '../escaped.txt' points outside the "
                                "archive's folder with '..'; nothing was extracted")
    assert tree(tmp_path) == before and not (tlcompare_home / "uploads").exists()


def test_loading_a_zip_dataset_uses_the_safe_extraction(tmp_path):
    with pytest.raises(UnsafeArchive):
        load_dataset(f"zip:{zip_bomb(tmp_path / 'bomb.zip')}")


def test_an_upload_becomes_a_dataset_string_and_a_report(tmp_path, tlcompare_home):
    root = good_folder(tmp_path / "photos", classes=("ok", "dented"), per_class=5)
    (root / "ok" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    data = zip_of_folder(root, tmp_path / "x.zip", wrapper="photos").read_bytes()
    source, report = receive_upload(io.BytesIO(data), "Line 3 parts.zip")
    folder = tlcompare_home / "uploads" / source.split("/uploads/")[1]
    assert source == f"imagefolder:{folder}" and folder.name == "Line 3 parts"
    assert report.class_names == ["dented", "ok"] and report.counts == [5, 5] and len(report.unreadable) == 1
    # 5 images a class leave 3 labelled after the held-out images: sizes above that are refused
    assert build_spec({"dataset": source, "sizes": [2, 3]}).dataset == source
    with pytest.raises(SpecError, match="use sizes up to 3"):
        build_spec({"dataset": source, "sizes": [2, 20]})
    with pytest.raises(UnsafeArchive):
        receive_upload(zip_bomb(tmp_path / "b.zip").read_bytes(), "b.zip")


def test_the_upload_limit_matches_the_dashboard_setting():
    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == MAX_UPLOAD_MB
    assert UPLOAD_LIMITS.max_archive_bytes == MAX_UPLOAD_MB * 2**20


def test_an_upload_refused_after_extraction_leaves_nothing_behind(tmp_path, tlcompare_home):
    # Extracted fine, then refused by the check (one class folder): nothing can use what it wrote.
    root = good_folder(tmp_path / "one", classes=("only",), per_class=3)
    data = zip_of_folder(root, tmp_path / "one.zip").read_bytes()
    with pytest.raises(UserError, match="only one class folder"):
        receive_upload(data, "one.zip")
    assert not [p for p in (tlcompare_home / "uploads").rglob("*")]


@pytest.mark.slow  # two new processes that import torch
@pytest.mark.parametrize("make", ["device", "fifo"])
def test_a_device_or_a_fifo_as_zip_is_refused_before_it_is_opened(make, tmp_path, tlcompare_home, capsys):
    # /dev/zero never ends and a FIFO without a writer blocks the open forever.
    path = Path("/dev/zero") if make == "device" else tmp_path / "pipe.zip"
    if make == "fifo":
        os.mkfifo(path)
    for args in (["inspect", f"zip:{path}"], ["submit", "--dataset", f"zip:{path}", "--sizes", "2"]):
        assert subprocess.run([sys.executable, "-m", "tlcompare", *args], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "TLCOMPARE_HOME": str(tlcompare_home)}).returncode == 2
    from tlcompare.cli import main

    assert main(["inspect", f"zip:{path}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a regular file (a device, pipe or socket)" in err
