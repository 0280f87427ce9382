"""The corpus of bad inputs real users send, each with the message they see and the CLI's exit code.

File-level problems (damaged, empty, mislabelled, hostile images) are skipped and reported by
default and stop the check with ``--strict``; folder-level problems (one class, no classes) stop
it with one line. Nothing is ever written into the user's folder, and nothing outside the
tlcompare home. Zip archives have their own file (test_safe_zip.py).
"""

import json
import pickle
import sys
from pathlib import Path

import pytest
import torch
from corpus import (
    cmyk_jpeg,
    corrupt_png,
    exif_rotated_jpeg,
    good_folder,
    huge_header_png,
    noisy,
    palette_png,
    png_16bit,
    tree,
    truncated_jpeg,
)
from helpers import tlc

from tlcompare.data import load_dataset
from tlcompare.data.inspect import inspect_source, render_text
from tlcompare.errors import UserError
from tlcompare.models import create_backbone
from tlcompare.spec import build_spec
from tlcompare.train import loop, prepare, train_run

ESCAPE = "\x1b[2J"  # "clear the screen": must never reach the terminal raw

# (file under the messy folder, how to make it, the reason shown for it; None = decodes fine)
FILES = [
    ("cat/truncated.jpg", truncated_jpeg, "truncated (image file is truncated"),
    ("cat/zero.jpg", lambda p: p.write_bytes(b""), "empty file (0 bytes)"),
    ("dog/really text.png", lambda p: p.write_text("hello, I am not a PNG"), "not a JPEG, PNG, BMP, TIFF or WebP image (its content does not match its name)"),
    ("dog/16-bit.png", png_16bit, None),
    ("dog/cmyk.jpg", cmyk_jpeg, None),
    ("cat/palette.png", palette_png, None),
    ("cat/exif-rotated.jpg", exif_rotated_jpeg, None),
    ("dog/bomb.png", lambda p: huge_header_png(p, 12_000, 12_000), "144,000,000 pixels, over the decompression-bomb limit of 89,478,485"),
    ("dog/huge-bomb.png", lambda p: huge_header_png(p, 20_000, 20_000), "400,000,000 pixels, over the decompression-bomb limit"),
    (f"café au lait/{ESCAPE}evil\nname.png", corrupt_png, "damaged ("),
]
IGNORED = [".DS_Store", "cat/.DS_Store", "cat/._1.png", "__MACOSX/cat/._1.png", "dog/Thumbs.db", ".git/config"]
IGNORED_AS = {".DS_Store", "cat/.DS_Store", "cat/._1.png", "__MACOSX/", "dog/Thumbs.db", ".git/"}  # folders once
SKIPPED = {"cat/notes.txt": "not an image file tlcompare reads", "README.md": "not inside a class folder"}


@pytest.fixture(scope="module")
def messy(tmp_path_factory) -> Path:
    """Two clean classes, a unicode class with a space, every bad file, junk and an empty class."""
    root = good_folder(tmp_path_factory.mktemp("user") / "my data", classes=("cat", "dog", "café au lait"), per_class=6)
    for rel, make, _ in FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        make(root / rel)
    for rel in IGNORED + list(SKIPPED):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"\x00\x05\x16\x07 junk")
    (root / "empty class").mkdir()
    (root / "<img src=x onerror=alert(1)>").mkdir()  # markup in a class name is data, never markup
    noisy(root / "<img src=x onerror=alert(1)>" / "1.png", seed=5)
    noisy(root / "<img src=x onerror=alert(1)>" / "2.png", seed=6)
    noisy(root / "<img src=x onerror=alert(1)>" / "3.png", seed=8)  # 3: one each for training, validation, test
    return root


# -- every file of the corpus ---------------------------------------------------------------------------
def test_each_bad_file_is_skipped_with_its_reason(messy):
    r = inspect_source(f"imagefolder:{messy}")
    reasons = dict(r.unreadable)
    for rel, _, expected in FILES:
        if expected is None:
            assert rel not in reasons, f"{rel} should decode: {reasons.get(rel)}"
        else:
            assert expected in reasons[rel], (rel, reasons.get(rel))
    assert set(r.ignored) == IGNORED_AS  # hidden and system files: quietly ignored, but listed
    assert {p: why for p, why in r.skipped if p in SKIPPED}.keys() == SKIPPED.keys()
    for p, why in r.skipped:
        if p in SKIPPED:
            assert SKIPPED[p] in why
    assert r.class_names == ["<img src=x onerror=alert(1)>", "café au lait", "cat", "dog"]
    assert r.counts == [3, 6, 6 + 2, 6 + 2]  # the good files plus the readable odd ones
    assert r.empty_classes == ["empty class"] and any("left out: 'empty class'" in w for w in r.warnings)
    assert r.usable  # skip and report is the default policy


def test_a_bomb_gets_the_same_reason_whichever_thread_decodes_it(tmp_path):
    """Decoding runs on threads; a warnings filter switched per call is process-wide, and threads racing
    on it once let PIL's warning through, so the same file read "12000x12000 = 144,000,000 pixels" in
    one inspect and "144,000,000 pixels" in the next."""
    from concurrent.futures import ThreadPoolExecutor

    from tlcompare.data.decode import decode_image

    bomb = huge_header_png(tmp_path / "bomb.png", 12_000, 12_000)  # between one and two times PIL's limit
    plain = noisy(tmp_path / "plain.png", seed=1)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch as often as they can: the race shows within a few hundred calls
    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda i: decode_image(bomb if i % 2 else plain, 16), range(400)))
    finally:
        sys.setswitchinterval(interval)
    reasons = {r.error for r in results[1::2]}
    assert len(reasons) == 1 and next(iter(reasons)).startswith("144,000,000 pixels, over the decompression-bomb limit")
    assert all(r.error is None and r.pixels is not None for r in results[::2])


def test_names_from_the_data_are_escaped_in_the_text_report(messy):
    text = render_text(inspect_source(f"imagefolder:{messy}"))
    assert ESCAPE not in text and "\\x1b[2Jevil\\nname.png" in text
    assert all("\n" not in line for line in text.splitlines())  # no forged lines
    assert "'café au lait'" in text and "'<img src=x onerror=alert(1)>'" in text  # shown as text, quoted


def test_cli_default_skips_and_reports_strict_stops_and_nothing_is_written_outside_home(messy, tlcompare_home, capsys):
    outside = messy.parent
    before = tree(outside)
    p = tlc("inspect", f"imagefolder:{messy}", "--sizes", "1", home=tlcompare_home, capsys=capsys)
    assert p.returncode == 0, p.stderr
    assert "unreadable, skipped (6)" in p.stdout and "dog/bomb.png: 144,000,000 pixels" in p.stdout
    assert "usable: training-set sizes up to 1 per class (1 per class only under validation = held_out" in p.stdout
    p = tlc("inspect", f"imagefolder:{messy}", "--strict", home=tlcompare_home, capsys=capsys)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("tlcompare: error: 6 unreadable files (--strict stops on any)")
    assert tree(outside) == before  # the user's folder is read, never written
    written = {str(f.relative_to(tlcompare_home)) for f in tlcompare_home.rglob("*") if f.is_file()}
    assert written and all(w.startswith(("cache/datasets/imagefolder-", "cache/file_hashes/")) for w in written)


def test_cli_json_report(messy, capsys):
    p = tlc("inspect", f"imagefolder:{messy}", "--json", capsys=capsys)
    code, out = p.returncode, p.stdout
    report = json.loads(out)
    assert code == 0 and report["usable"] and len(report["unreadable"]) == 6 and "\x1b" not in out


# -- folder-level problems: one clear line, exit 2 ----------------------------------------------------------
@pytest.mark.parametrize("layout, message", [
    ({"only/1.png": 1, "only/2.png": 2}, "has only one class folder ('only'): comparing classifiers needs at least two classes"),
    ({"1.png": 1, "2.png": 2}, "has no class sub-folders (the images are loose in it): put each class's images in its own sub-folder"),
    ({}, "has no class sub-folders"),
    ({"a/1.png": 1, "b/x.png": None, "c/y.png": None}, "only 1 of the 3 class folders hold readable"),
    ({"a/notes.txt": None, "b/.DS_Store": None}, "none of the 2 class folders hold readable"),
], ids=["single-class", "no-class-folders", "empty-folder", "one-class-readable", "no-images-at-all"])
def test_unusable_folders_exit_2_with_one_line(tmp_path, capsys, layout, message):
    root = tmp_path / "data"
    root.mkdir()
    for rel, seed in layout.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        if seed is None:
            (root / rel).write_text("junk")
        else:
            noisy(root / rel, seed)
    p = tlc("inspect", f"imagefolder:{root}", capsys=capsys)
    code, err = p.returncode, p.stderr
    assert code == 2 and message in err and err.count("\n") == 1 and err.startswith("tlcompare: error: ")


def test_an_unusable_folder_is_refused_before_any_run_is_queued(tmp_path, capsys, tlcompare_home):
    noisy(tmp_path / "one" / "cat" / "1.png", seed=1)
    p = tlc("submit", "--dataset", f"imagefolder:{tmp_path / 'one'}", capsys=capsys)
    code, err = p.returncode, p.stderr
    assert code == 2 and "has only one class folder ('cat')" in err
    p = tlc("submit", "--dataset", f"imagefolder:{tmp_path / 'none'}", capsys=capsys)
    code, err = p.returncode, p.stderr
    assert code == 2 and "image folder" in err and "does not exist" in err
    assert list(tlcompare_home.iterdir()) == []  # no store was even opened


# -- checkpoints: only plain tensors, loaded with weights_only=True -------------------------------------------
class Exploit:
    """A pickle that runs code when loaded without weights_only: it would create a file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_that_runs_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    with path.open("wb") as f:
        pickle.dump({"conv.weight": Exploit(marker)}, f)
    with pytest.raises(UserError) as e:
        create_backbone("efficientnet_lite0", num_classes=2, pretrained=True, weights=path)
    assert "not a PyTorch state dict loadable safely with weights_only=True" in str(e.value)
    assert not marker.exists()


def test_a_checkpoint_of_the_wrong_shape_names_the_mismatch(tmp_path):
    torch.manual_seed(0)
    state = create_backbone("efficientnet_lite0", num_classes=5, pretrained=False).model.state_dict()
    state["conv_stem.weight"] = torch.zeros(32, 1, 3, 3)  # a gray-input model
    path = tmp_path / "gray.pt"
    torch.save(state, path)
    with pytest.raises(UserError) as e:
        create_backbone("efficientnet_lite0", num_classes=2, pretrained=True, weights=path)
    assert "1 key with the wrong shape (conv_stem.weight 32x1x3x3 (model 32x3x3x3))" in str(e.value)


@pytest.mark.slow
def test_a_bad_checkpoint_fails_its_runs_but_not_the_experiment(tmp_path, tlcompare_home, messy, capsys, one_thread):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"conv.weight": Exploit(marker)}))
    out = tmp_path / "res.json"
    # Its smallest class leaves 1 image to train on: only under validation = held_out.
    p = tlc("run", "--dataset", f"imagefolder:{messy}", "--weights", str(evil), "--sizes", "1", "--validation", "held_out", "--seeds", "1",
            "--freeze", "all", "--budget", "epochs", "--epochs", "1", "--image-size", "16", "--device", "cpu", "--out", str(out), home=tlcompare_home, capsys=capsys)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "failed: checkpoint file" in p.stderr and "weights_only=True" in p.stderr
    assert "1 of 2 runs did not finish" in p.stderr
    assert "6 unreadable files skipped" in p.stderr  # the skip policy is visible during training too
    (experiment,) = json.loads(out.read_text())["experiments"]
    runs = experiment["runs"]
    assert [(r["arm"], r["status"]) for r in runs] == [("scratch", "done"), ("pretrained", "failed")]
    assert not marker.exists()
    p = tlc("ls", home=tlcompare_home, capsys=capsys)  # the finished run is kept in the store
    assert p.returncode == 0 and "imagefolder" in p.stdout


# -- faults during training ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_nan_inducing_learning_rate_marks_the_run_diverged(tmp_path, one_thread):
    root = good_folder(tmp_path / "data", per_class=6)
    spec = build_spec({"dataset": f"imagefolder:{root}", "image_size": 16, "sizes": [2], "seeds": 1, "freeze": ["all"],
                       "budget": "epochs", "epochs": 2, "batch_size": 4, "device": "cpu", "lr_scratch": 99, "optimizer": "sgd"})
    data = prepare(spec, torch.device("cpu"))
    scratch, probe = (train_run(run, data, torch.device("cpu")) for run in spec.runs())
    assert scratch.status == "diverged" and "try a lower learning rate" in scratch.error
    assert scratch.epochs and scratch.final == {}  # what was measured is kept
    assert probe.status == "done"  # the other arm of the pair is unaffected


@pytest.mark.slow
def test_out_of_gpu_memory_retries_at_half_the_batch_and_says_so(monkeypatch, one_thread):
    # 10 labelled per class: under within (the default) 2 validate and 8 train, 80 training images
    spec = build_spec({"dataset": "digits", "image_size": 16, "sizes": [10], "seeds": 1, "freeze": ["all"],
                       "budget": "epochs", "epochs": 1, "batch_size": 32, "device": "cpu"})
    data = prepare(spec, torch.device("cpu"))
    run = spec.runs()[1]
    assert run.batch_size(80) == 20
    real, tried = loop._train_at_batch, []

    def small_gpu(run, data, device, batch, *rest):
        tried.append(batch)
        if batch > 8:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(run, data, device, batch, *rest)

    monkeypatch.setattr(loop, "_train_at_batch", small_gpu)
    result = train_run(run, data, torch.device("cpu"))
    assert tried == [20, 10, 8]
    assert result.status == "done" and result.oom_retries == 2 and result.batch_size == 8
    assert result.to_dict()["oom_retries"] == 2 and result.epochs[0]["batch_size"] == 8

    def no_gpu(run, data, device, batch, *rest):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(loop, "_train_at_batch", no_gpu)
    with pytest.raises(UserError, match="out of GPU memory even at batch size 8"):
        train_run(run, data, torch.device("cpu"))


def test_a_cache_that_cannot_be_written_costs_nothing(tmp_path, monkeypatch, caplog):
    from tlcompare.data import cache

    root = good_folder(tmp_path / "data", per_class=3)

    def disk_full(dataset, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "_save", disk_full)
    ds = load_dataset(f"imagefolder:{root}")
    assert len(ds.labels) == 6 and "could not write the dataset cache" in caplog.text
