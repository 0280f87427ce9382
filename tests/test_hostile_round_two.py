"""Hostile inputs, second round: each case as an attacker (or an unlucky user) found it, through the
real CLI entry point (in process where no new interpreter is needed), a real store file and real
image folders. Each must end in one line naming the problem and the fix, never in a wrong result,
a write to something it was only asked to read, or a traceback."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from corpus import good_folder
from helpers import tlc
from PIL import Image
from test_hardening import one_line_refusal

from tlcompare.data import file_hashes, load_dataset
from tlcompare.spec import build_spec
from tlcompare.store.schema import SCHEMA_VERSION

TINY = ("--sizes", "2", "--seeds", "1", "--budget", "epochs", "--epochs", "1", "--image-size", "16", "--device", "cpu")


def in_process(capsys, *args):
    """The CLI's own entry point in this process (helpers.tlc with capsys)."""
    return tlc(*args, capsys=capsys)


def spec_of(home: Path, exp_id: int) -> dict:
    row = sqlite3.connect(home / "tlcompare.db").execute("SELECT spec FROM experiments WHERE id = ?", (exp_id,)).fetchone()
    return json.loads(row[0])


# -- 1. submit --into adds sizes, depths and seeds only -------------------------------------------------
@pytest.mark.parametrize("flags, named", [
    (("--epochs", "2"), "epochs (1 there, 2 here)"),
    (("--model", "resnet18"), "model ('efficientnet_lite0' there, 'resnet18' here)"),
    (("--image-size", "24"), "image_size (16 there, 24 here)"),
    (("--dataset", "elpv"), "dataset ('digits' there, 'elpv' here)"),
    (("--lr-scratch", "0.005", "--augment", "none"), "augment ('crop' there, 'none' here), lr_scratch (the default there, 0.005 here)"),
])
def test_into_refuses_any_other_setting_with_what_differs(flags, named, tlcompare_home, capsys):
    assert in_process(capsys, "submit", "--freeze", "all", *TINY).returncode == 0
    before = spec_of(tlcompare_home, 1)
    err = one_line_refusal(in_process(capsys, "submit", "--into", "1", *flags))
    assert err.count("\n") == 1 and f"differs from experiment 1 in {named}" in err, err
    assert "adds sizes, freezing depths and seeds only" in err and "submit without --into" in err
    assert spec_of(tlcompare_home, 1) == before  # nothing changed, nothing queued
    assert sqlite3.connect(tlcompare_home / "tlcompare.db").execute("SELECT count(*) FROM runs").fetchone()[0] == 2


def test_into_adds_seeds_sizes_and_depths_keeping_the_recipe(tlcompare_home, capsys):
    assert in_process(capsys, "submit", "--freeze", "all", *TINY).returncode == 0
    # Only the grid is named: every other setting comes from the experiment, not from the defaults.
    p = in_process(capsys, "submit", "--into", "1", "--seeds", "0,1", "--sizes", "3", "--freeze", "0")
    assert p.returncode == 0, p.stderr
    spec = spec_of(tlcompare_home, 1)
    assert (spec["sizes"], spec["seeds"], spec["freeze"]) == ([2, 3], [0, 1], [0, "all"])  # the union: no run drops out
    assert (spec["epochs"], spec["image_size"], spec["budget"]) == (1, 16, "epochs")
    assert "12 new runs added" not in p.stderr and "10 new runs added" in p.stderr  # 2x2x3 = 12, 2 existed
    configs = [json.loads(c) for (c,) in sqlite3.connect(tlcompare_home / "tlcompare.db").execute("SELECT config FROM runs")]
    assert {c["epochs"] for c in configs} == {1} and {c["image_size"] for c in configs} == {16}
    assert one_line_refusal(in_process(capsys, "submit", "--into", "7", "--seeds", "2")).startswith(
        "tlcompare: error: no experiment 7")


# -- 2. image folders are keyed by their bytes -------------------------------------------------------------
def bmp_folder(root: Path, per_class: int = 6) -> Path:
    """BMP files: every image the same number of bytes, so a swap keeps every size."""
    for c, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            value = 30 + 200 * c  # cats dark, dogs light
            Image.fromarray(np.full((20, 20, 3), value + i, dtype=np.uint8)).save(root / name / f"{i}.bmp")
    return root


def swap_keeping_times(a: Path, b: Path) -> None:
    times = [(p.stat().st_atime_ns, p.stat().st_mtime_ns) for p in (a, b)]
    da, db = a.read_bytes(), b.read_bytes()
    assert len(da) == len(db)
    a.write_bytes(db)
    b.write_bytes(da)
    for p, t in zip((a, b), times, strict=True):
        os.utime(p, ns=t)


def test_two_files_that_swap_contents_with_equal_sizes_and_times_change_the_key(tmp_path, tlcompare_home):
    folder = bmp_folder(tmp_path / "parts")
    source = f"imagefolder:{folder}"
    before = build_spec({"dataset": source, "sizes": [2]})
    pixels = load_dataset(source).images.clone()
    swap_keeping_times(folder / "cat" / "0.bmp", folder / "dog" / "0.bmp")
    after = build_spec({"dataset": source, "sizes": [2]})
    assert before.source_key != after.source_key
    assert all(r1.config_hash() != r2.config_hash() for r1, r2 in zip(before.runs(), after.runs(), strict=True))
    # The decoded-image cache follows the bytes too: the swapped labels' pixels are read again.
    ds = load_dataset(source)
    files = ds.extra["files"]
    cat0, dog0 = files.index("cat/0.bmp"), files.index("dog/0.bmp")
    assert int(ds.images[cat0].float().mean()) == int(pixels[dog0].float().mean())
    assert int(ds.images[dog0].float().mean()) == int(pixels[cat0].float().mean())


def test_an_unchanged_folder_costs_a_stat_walk_and_a_rewritten_file_is_hashed_again(tmp_path, tlcompare_home, monkeypatch):
    folder = bmp_folder(tmp_path / "parts")
    read: list[str] = []
    real = file_hashes._digest
    monkeypatch.setattr(file_hashes, "_digest", lambda p: read.append(p.name) or real(p))
    first = build_spec({"dataset": f"imagefolder:{folder}", "sizes": [2]}).source_key
    assert len(read) == 12
    read.clear()
    assert build_spec({"dataset": f"imagefolder:{folder}", "sizes": [2]}).source_key == first and read == []
    # Same bytes written again with the old times restored: the status-change time moved, so it is read.
    target = folder / "dog" / "3.bmp"
    st = target.stat()
    target.write_bytes(target.read_bytes())
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert build_spec({"dataset": f"imagefolder:{folder}", "sizes": [2]}).source_key == first and read == ["3.bmp"]
    # A damaged memo is only slower.
    for memo in (tlcompare_home / "cache" / "file_hashes").iterdir():
        memo.write_text("{not json")
    read.clear()
    assert build_spec({"dataset": f"imagefolder:{folder}", "sizes": [2]}).source_key == first and len(read) == 12


# -- 3. a class with a single image ------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2])
def test_a_class_too_small_for_a_validation_and_a_test_image_is_refused(n, tmp_path, tlcompare_home, capsys):
    folder = good_folder(tmp_path / "parts", classes=("cat", "dog"), per_class=8)
    for f in sorted((folder / "dog").iterdir())[n:]:
        f.unlink()
    images = "image" if n == 1 else "images"
    says = (f"class 'dog' has {n} {images}: a class needs at least 3 (one each for training, validation and test), "
            "or its accuracy cannot be measured; add images to it or remove its folder")
    p = in_process(capsys, "inspect", f"imagefolder:{folder}")
    assert p.returncode == 2 and f"not usable: {says}" in p.stdout and p.stderr == f"tlcompare: error: {says}\n"
    err = one_line_refusal(in_process(capsys, "submit", "--dataset", f"imagefolder:{folder}", *TINY))
    assert err == f"tlcompare: error: dataset: {says}\n"
    assert not (tlcompare_home / "tlcompare.db").exists() or spec_count(tlcompare_home) == 0


def spec_count(home: Path) -> int:
    return sqlite3.connect(home / "tlcompare.db").execute("SELECT count(*) FROM experiments").fetchone()[0]


# -- 6. --out writes regular files and never replaces what a path points at ---------------------------------
@pytest.fixture
def queued(tlcompare_home, capsys) -> int:
    """An experiment in the store (queued: a report of it needs no training), its writer closed."""
    import gc

    assert in_process(capsys, "submit", "--freeze", "all", *TINY).returncode == 0
    gc.collect()  # the submit's connection: closed, so the file is checkpointed and quiet
    return 1


def leftovers(*folders: Path) -> list[str]:
    return [p.name for f in folders for p in f.iterdir() if p.name.endswith(".tmp")]


def test_out_through_a_link_writes_its_target_and_keeps_the_link(queued, tmp_path, capsys):
    target = tmp_path / "real.md"
    target.write_text("old")
    (tmp_path / "link.md").symlink_to(target)
    p = in_process(capsys, "report", "1", "--out", tmp_path / "link.md")
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "link.md").is_symlink() and "No finished runs yet" in target.read_text() and not leftovers(tmp_path)


def test_out_on_a_device_or_pipe_writes_through_it(queued, tmp_path, capsys):
    import stat

    if os.geteuid() != 0:
        pytest.skip("making a character device needs root")
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a private /dev/null
    for args in (("report", "1", "--format", "md"), ("report", "1", "--format", "json")):
        assert in_process(capsys, *args, "--out", null).returncode == 0
        assert stat.S_ISCHR(os.lstat(null).st_mode)  # still the device, not a regular file
    (tmp_path / "stdout.json").symlink_to("/proc/self/fd/1")
    p = in_process(capsys, "report", "1", "--format", "json", "--out", tmp_path / "stdout.json")
    assert p.returncode == 0 and (tmp_path / "stdout.json").is_symlink() and not leftovers(tmp_path)


def test_out_an_existing_folder_is_one_line_and_leaves_nothing(queued, tmp_path, capsys):
    folder = tmp_path / "outdir"
    folder.mkdir()
    err = one_line_refusal(in_process(capsys, "report", "1", "--out", folder))
    assert f"--out '{folder}' is a folder: give a file name inside it" in err
    # `run` says it before training anything.
    err = one_line_refusal(in_process(capsys, "run", "--freeze", "all", *TINY, "--out", folder))
    assert "is a folder" in err and sqlite3.connect(Path(os.environ["TLCOMPARE_HOME"]) / "tlcompare.db").execute(
        "SELECT count(*) FROM experiments").fetchone()[0] == 1
    assert list(folder.iterdir()) == [] and not leftovers(tmp_path)


# -- 9. reads never write -------------------------------------------------------------------------------------
def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def store_written(home: Path, before: bytes) -> bool:
    """Whether the store file changed or its journal holds anything. A reader of a WAL file may
    make the empty side files (-wal, -shm) SQLite reads through: they hold nothing of the store."""
    return (home / "tlcompare.db").read_bytes() != before or any(p.stat().st_size for p in home.glob("*-wal"))


def test_listing_showing_and_checking_a_sound_store_write_nothing(queued, tlcompare_home, capsys):
    before = (tlcompare_home / "tlcompare.db").read_bytes()
    for args in (("ls",), ("show", "1"), ("store", "check"), ("report", "1", "--format", "md", "--out", "-")):
        assert in_process(capsys, *args).returncode == 0, args
        assert not store_written(tlcompare_home, before), args


@pytest.mark.parametrize("damage, says", [
    ("PRAGMA user_version = -1", "its header says schema version -1, which tlcompare never writes"),
    ("PRAGMA user_version = -3", "its header says schema version -3"),
    ("PRAGMA user_version = 99", "has schema version 99, newer than this tlcompare understands"),
    ("DROP TABLE workers", f"is an SQLite file but not a tlcompare store of schema {SCHEMA_VERSION}"),
])
def test_a_store_with_a_header_tlcompare_never_wrote_is_refused_untouched(damage, says, queued, tlcompare_home, capsys):
    con = sqlite3.connect(tlcompare_home / "tlcompare.db")
    con.execute(damage)
    con.commit()
    con.close()
    before = (tlcompare_home / "tlcompare.db").read_bytes()
    for args in (("ls",), ("show", "1"), ("submit", "--sizes", "2"), ("cancel", "1")):
        err = one_line_refusal(in_process(capsys, *args))
        assert says in err and err.count("\n") == 1, (args, err)
        assert not store_written(tlcompare_home, before), args


def test_an_old_schema_store_with_garbage_is_not_migrated(tlcompare_home, capsys):
    from test_hardening import _damage

    for name in ("first", "second", "third"):
        assert in_process(capsys, "submit", "--sizes", ",".join(map(str, range(2, 61))), "--seeds", "3",
                          "--name", name).returncode == 0
    db = tlcompare_home / "tlcompare.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version = 3")  # written by an older tlcompare: a migration is due
    con.commit()
    con.close()
    damaged = _damage(db)
    for args in (("ls",), ("show", "1"), ("submit", "--sizes", "2")):
        err = one_line_refusal(in_process(capsys, *args))
        assert "is damaged" in err and "left untouched" in err, err
        assert db.read_bytes() == damaged


def test_store_check_on_another_programs_database_or_a_missing_path_writes_nothing(queued, tmp_path, capsys):
    foreign = tmp_path / "notes.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE notes (x)")
    con.execute("CREATE TABLE experiments (id, what)")  # a table of the same name, not tlcompare's
    con.commit()
    con.close()
    before = files_of(tmp_path)
    err = one_line_refusal(in_process(capsys, "store", "check", "--db", foreign))
    assert "is an SQLite file but not a tlcompare store of schema 0 (its tables: experiments, notes)" in err
    assert files_of(tmp_path) == before  # no tables added, no WAL switch
    missing = tmp_path / "no" / "such" / "store.db"
    err = one_line_refusal(in_process(capsys, "store", "check", "--db", missing))
    assert f"there is no store at '{missing}' (nothing was created)" in err and not (tmp_path / "no").exists()
    err = one_line_refusal(in_process(capsys, "store", "backup", tmp_path / "nowhere" / "copy.db"))
    assert "cannot write the backup" in err and "its folder does not exist" in err


# -- 8 and 10. Ray addresses: no password shown, no minutes of retries; a worker that can exit ---------------
@pytest.fixture
def not_ray():
    """A port that accepts connections and never answers (what ray.init retried for minutes)."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list = []
    threading.Thread(target=lambda: [held.append(server.accept()) for _ in range(8)], daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn, _ in held:
        conn.close()


def test_an_address_that_is_not_ray_gives_up_in_seconds_without_the_password(not_ray, capsys):
    import time

    t0 = time.monotonic()
    err = one_line_refusal(in_process(capsys, "worker", "--executor", "ray", "--once",
                                      "--address", f"ray://admin:hunter2@127.0.0.1:{not_ray}"))
    assert time.monotonic() - t0 < 30
    assert f"cannot reach a Ray cluster at ray://***@127.0.0.1:{not_ray}: something listens there but" in err
    assert "hunter2" not in err and "admin" not in err


@pytest.mark.parametrize("address, says", [
    ("admin:hunter2@127.0.0.1:1", "cannot reach a Ray cluster at ***@127.0.0.1:1: connection refused"),
    ("127.0.0.1:6²79", "the Ray address '127.0.0.1:6²79' does not end in a port number"),
    ("ray://u:hunter2@127.0.0.1:99999", "the Ray address 'ray://***@127.0.0.1:99999' does not end in a port number"),
])
def test_a_bad_ray_address_is_one_line_before_anything_heavy(address, says, capsys):
    err = one_line_refusal(in_process(capsys, "worker", "--executor", "ray", "--once", "--address", address))
    assert says in err and "hunter2" not in err, err


def test_a_ray_worker_started_for_the_dashboard_keeps_the_password_out_of_its_log(tlcompare_home):
    import time

    from tlcompare.store import Store
    from tlcompare.worker.control import ensure_ray_worker

    store = Store()
    ensure_ray_worker("ray://admin:hunter2@127.0.0.1:1", store=store)
    logs = tlcompare_home / "logs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any("cannot reach" in p.read_text() for p in logs.glob("*.log")):
        time.sleep(0.5)
    text = "".join(p.read_text() for p in logs.glob("*.log"))
    assert "cannot reach a Ray cluster at ray://***@127.0.0.1:1" in text and "hunter2" not in text


@pytest.mark.parametrize("args, env, says", [
    (("worker", "--once", "--idle-exit", "nan"), {}, "--idle-exit=nan is not a number of seconds"),
    (("worker", "--once", "--idle-exit", "-1"), {}, "--idle-exit=-1 is not a number of seconds"),
    (("worker", "--once"), {"TLCOMPARE_POLL_SECONDS": "abc"}, "TLCOMPARE_POLL_SECONDS=abc is not a number of seconds"),
])
def test_worker_durations_that_never_end_are_refused(args, env, says, monkeypatch, capsys):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    err = one_line_refusal(in_process(capsys, *args))
    assert says in err


# -- 11, 12, 14. one line instead of an internal error or a misleading message --------------------------------
@pytest.mark.parametrize("args, says", [
    (("submit", "--freeze", "²"), "freeze: '²' is not a depth"),
    (("submit", "--seeds", "²"), "seeds: '²' is not a whole number"),
    (("submit", "--device", "cuda:abc"), "device: unknown 'cuda:abc'; use auto, cpu, cuda or cuda:N"),
    (("submit", "--device", "cudaXYZ"), "device: unknown 'cudaXYZ'"),
    (("submit", "--data-root", "/nonexistent/raw"), "data_root: '/nonexistent/raw' does not exist or is not a folder"),
])
def test_values_that_looked_valid_are_refused_with_one_line(args, says, tlcompare_home, capsys):
    err = one_line_refusal(in_process(capsys, *args))
    assert says in err and not (tlcompare_home / "tlcompare.db").exists(), err


@pytest.mark.parametrize("content, says", [
    ("\ufeffsizes = [2]\nfreeze = [\"²\"]\n", "freeze: '²' is not a depth"),  # a BOM is no statement
    ("a = " + "[" * 2000 + "]" * 2000 + "\n", "nests arrays or tables too deeply"),
])
def test_experiment_files_with_a_bom_or_deep_nesting(content, says, tmp_path, capsys):
    (tmp_path / "exp.toml").write_text(content, encoding="utf-8")
    assert says in one_line_refusal(in_process(capsys, "submit", tmp_path / "exp.toml"))


@pytest.mark.parametrize("command", ["show", "cancel", "delete", "report", "resume"])
@pytest.mark.parametrize("text", ["99999999999999999999999", "²", "-1"])
def test_ids_beyond_64_bits_or_not_numbers_are_usage_errors(command, text, capsys):
    p = in_process(capsys, command, text)
    assert p.returncode == 2 and f"'{text}' is not an experiment id" in p.stderr and "Traceback" not in p.stderr


def test_a_closed_pipe_ends_quietly(queued, tlcompare_home):
    import subprocess
    import sys

    env = {**os.environ, "TLCOMPARE_HOME": str(tlcompare_home)}
    p = subprocess.run(f"'{sys.executable}' -m tlcompare show 1 | head -c 1", shell=True, capture_output=True,
                       text=True, env=env, timeout=300)
    assert "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr and "internal error" not in p.stderr, p.stderr


def test_a_folder_nested_1500_deep_is_walked_to_a_limit(tmp_path, capsys):
    folder = good_folder(tmp_path / "deep", per_class=4)
    here = os.getcwd()
    os.chdir(folder / "cat")
    try:
        for _ in range(1500):
            os.mkdir("d")
            os.chdir("d")
    finally:
        os.chdir(here)
    try:
        p = in_process(capsys, "inspect", f"imagefolder:{folder}")
        assert p.returncode == 0, p.stderr
        assert "nested more than 32 folders deep (not read)" in p.stdout
    finally:  # bottom up, without recursion: shutil.rmtree (pytest's cleanup too) overflows on 1,500 levels
        chain = [folder / "cat"]
        while (chain[-1] / "d").is_dir():
            chain.append(chain[-1] / "d")
        for d in reversed(chain[1:]):
            d.rmdir()


def test_class_folders_not_in_utf8_are_shown_escaped_and_two_spellings_of_one_name_refused(tmp_path, capsys):
    import unicodedata

    folder = good_folder(tmp_path / "latin1", classes=("dog", "cat"), per_class=6)
    os.rename(os.fsencode(folder / "cat"), os.fsencode(folder) + b"/caf\xe9")
    p = in_process(capsys, "inspect", f"imagefolder:{folder}")
    assert p.returncode == 0 and "'caf\\xe9'" in p.stdout, p.stdout
    assert build_spec({"dataset": f"imagefolder:{folder}", "sizes": [2]}).source_key  # keyed, stored, trainable
    from tlcompare.data.fingerprint import dataset_fingerprint

    assert dataset_fingerprint(load_dataset(f"imagefolder:{folder}"))  # where every run failed before
    both = good_folder(tmp_path / "cafes", classes=(unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")),
                       per_class=4)
    err = one_line_refusal(in_process(capsys, "inspect", f"imagefolder:{both}"))
    assert "two class folders that both read 'café' (spelled " in err and "merge them" in err


def test_a_fractional_file_limit_is_named(tmp_path, monkeypatch, capsys):
    folder = good_folder(tmp_path / "few", per_class=4)
    monkeypatch.setenv("TLCOMPARE_MAX_FILES", "0.5")
    assert "TLCOMPARE_MAX_FILES=0.5 is not a whole number of files" in one_line_refusal(
        in_process(capsys, "inspect", f"imagefolder:{folder}"))


def test_run_on_a_gpu_that_is_not_there_stores_nothing(tlcompare_home, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    err = one_line_refusal(in_process(capsys, "run", "--freeze", "all", *TINY[:-2], "--device", "cuda"))
    assert "no CUDA GPU is visible" in err and not (tlcompare_home / "tlcompare.db").exists()


def test_a_worker_id_with_escapes_and_a_long_name_are_refused(queued, capsys):
    assert "--worker-id '\\x1b[31mx\\ny'" in one_line_refusal(in_process(capsys, "worker", "--once", "--worker-id", "\x1b[31mx\ny"))
    from tlcompare.store import Store
    from tlcompare.store.errors import StoreError  # noqa: F401

    with pytest.raises(Exception, match="at most 200"):
        Store().rename_experiment(1, "x" * 100_000)


# -- 13. one damaged row does not take down the rest ----------------------------------------------------------
def test_an_experiment_whose_spec_is_not_json_is_named_and_the_rest_works(tlcompare_home, capsys):
    for name in ("bad", "good"):
        assert in_process(capsys, "submit", "--freeze", "all", *TINY, "--name", name).returncode == 0
    con = sqlite3.connect(tlcompare_home / "tlcompare.db")
    con.execute("UPDATE experiments SET spec = '{not json' WHERE name = 'bad'")
    con.commit()
    con.close()
    p = in_process(capsys, "ls")
    assert p.returncode == 0 and "good" in p.stdout and "damaged" in p.stdout, p.stderr
    assert "experiment 1's stored spec is damaged" in one_line_refusal(in_process(capsys, "show", "1"))
    assert in_process(capsys, "show", "2").returncode == 0
    check = in_process(capsys, "store", "check")
    assert check.returncode == 2 and "experiment 1's stored spec is damaged" in check.stderr
    # The queue skips it: its runs fail with the reason instead of a worker crashing with one "running".
    from tlcompare.store import Store

    store = Store()
    claimed = store.claim("w1")
    assert claimed["experiment_id"] == 2
    rows = dict(sqlite3.connect(tlcompare_home / "tlcompare.db").execute(
        "SELECT status, error FROM runs WHERE experiment_id = 1").fetchall())
    assert set(rows) == {"failed"} and "stored spec is damaged" in rows["failed"]


@pytest.mark.parametrize("args", [
    ("submit", "--dataset", "imagefolder:{P}"), ("submit", "--dataset", "zip:{P}"), ("submit", "--weights", "{P}"),
    ("inspect", "imagefolder:{P}"), ("report", "1", "--out", "{P}"), ("store", "check", "--db", "{P}"),
])
def test_a_path_of_a_megabyte_is_one_short_line(args, capsys):
    # Resolving it walked 500,000 parts for minutes; printed whole it was one line of a megabyte.
    long_path = "/a" * 500_000
    err = one_line_refusal(in_process(capsys, *[a.replace("{P}", long_path) for a in args]))
    assert len(err) < 400 and err.count("\n") == 1, err[:400]


@pytest.mark.parametrize("damage", [
    "UPDATE runs SET final = json_set(final, '$.test_acc', 'NaN') WHERE id = 1",
    "UPDATE runs SET final = '{\"test_acc\": NaN}' WHERE id = 1",
    "UPDATE runs SET size = 'lots' WHERE id = 1",
    "UPDATE runs SET size = -3 WHERE id = 1",
    "UPDATE runs SET final = '[1, 2]' WHERE id = 1",
    "UPDATE artifacts SET confusion = '[[1, 2], [3]]' WHERE run_id = 1",
    "UPDATE epochs SET metrics = '{not json' WHERE run_id = 1",
    "UPDATE experiments SET environment = '[1, 2]' WHERE id = 1",
])
def test_a_damaged_run_row_is_left_out_by_name_and_the_rest_is_shown(damage, tlcompare_home, capsys):
    from test_store import drain, make_spec

    from tlcompare.store import Store

    store = Store()
    store.create_experiment(make_spec())
    drain(store)
    con = sqlite3.connect(tlcompare_home / "tlcompare.db")
    for rowid, metrics in con.execute("SELECT rowid, metrics FROM epochs").fetchall():  # as real epochs have
        con.execute("UPDATE epochs SET metrics = ? WHERE rowid = ?", (json.dumps({**json.loads(metrics), "train_acc": 0.95}), rowid))
    con.commit()
    assert in_process(capsys, "show", "1").returncode == 0  # sound before the damage
    con.execute(damage)
    con.commit()
    con.close()
    p = in_process(capsys, "show", "1")
    assert p.returncode == 0, p.stderr
    assert "internal error" not in p.stderr
    if "environment" not in damage:
        assert "run 1's stored row is damaged" in p.stdout
    for fmt in ("json", "csv", "md"):
        r = in_process(capsys, "report", "1", "--format", fmt, "--out", "-")
        assert r.returncode == 0 and "internal error" not in r.stderr, (fmt, r.stderr)
