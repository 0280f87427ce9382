"""The user's own images: folders, zips and torchvision datasets as sources, decoding, caching, the check."""

import json
import os
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from corpus import (
    BLUE,
    RED,
    cmyk_jpeg,
    exif_rotated_jpeg,
    good_folder,
    noisy,
    palette_png,
    png_16bit,
    rgba_png,
    solid,
    zip_of_folder,
)
from helpers import tlc
from PIL import Image

from tlcompare.data import check_source, load_dataset, torchvision_sets
from tlcompare.data import imagefolder as imagefolder_module
from tlcompare.data.decode import decode_image
from tlcompare.data.inspect import inspect_source, render_text
from tlcompare.errors import DataUnavailable, SpecError, UserError
from tlcompare.spec import build_spec


def close(pixel, color, tol=12):
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(pixel, color, strict=True))


# -- sources and the spec ------------------------------------------------------------------------------
def test_imagefolder_loads_classes_from_folder_names(tmp_path):
    root = good_folder(tmp_path / "my photos", classes=("chats noirs", "café ☕", "猫"), per_class=5)
    calls = []
    ds = load_dataset(f"imagefolder:{root}", progress=lambda done, total: calls.append((done, total)))
    assert ds.class_names == ["café ☕", "chats noirs", "猫"]  # sorted, unicode and spaces kept
    assert ds.images.dtype == torch.uint8 and tuple(ds.images.shape) == (15, 3, 20, 20)  # never enlarged
    assert torch.bincount(ds.labels).tolist() == [5, 5, 5]
    assert calls[-1] == (15, 15)
    assert ds.name == "my photos" and "your own images" in ds.licence


def test_spec_accepts_sources_and_makes_paths_absolute(tmp_path, monkeypatch):
    root = good_folder(tmp_path / "data", per_class=3)
    monkeypatch.chdir(tmp_path)
    # 3 images a class: 1 left to train on, so only under held_out (within, it would be the validation image)
    spec = build_spec({"dataset": "imagefolder:data", "sizes": [1], "validation": "held_out"})
    assert spec.dataset == f"imagefolder:{root.resolve()}"  # a worker started elsewhere finds it
    assert build_spec({"dataset": "torchvision:CIFAR10"}).dataset == "torchvision:cifar10"
    with pytest.raises(SpecError) as e:
        build_spec({"dataset": "imagefolder:missing"})
    assert "image folder" in e.value.problems[0] and "does not exist" in e.value.problems[0]
    assert "did you mean imagefolder:data" in check_source("data")
    assert "choose one of cifar10, cifar100, flowers102, oxford-pets" in check_source("torchvision:imagenet")
    assert "zip:PATH" in check_source("s3:bucket")


def test_zip_source_extracts_into_home_and_trains_on_the_same_images(tmp_path, tlcompare_home):
    root = good_folder(tmp_path / "photos", per_class=4)
    (root / "__MACOSX" / "cat").mkdir(parents=True)
    (root / "__MACOSX" / "cat" / "._0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    archive = zip_of_folder(root, tmp_path / "photos.zip", wrapper="photos")  # zips wrap everything in a folder
    ds = load_dataset(f"zip:{archive}")
    assert ds.class_names == ["cat", "dog"] and len(ds.labels) == 8 and ds.name == "photos"
    assert Path(ds.extra["root"]).is_relative_to(tlcompare_home / "uploads")
    assert ds.extra["unwrapped"] == "photos" and ds.extra["unreadable"] == []
    assert torch.equal(ds.images, load_dataset(f"imagefolder:{root}").images)


# -- decoding every kind of image -----------------------------------------------------------------------
@pytest.mark.parametrize("make, check", [
    (lambda p: png_16bit(p / "a.png"), lambda px: px.ndim == 2 and px[10, 10] == 100),  # 25700/65535 of full scale
    (lambda p: cmyk_jpeg(p / "a.jpg"), lambda px: close(px[10, 10], (255, 0, 0))),
    (lambda p: palette_png(p / "a.png"), lambda px: close(px[10, 2], BLUE) and close(px[10, 17], RED)),
    (lambda p: palette_png(p / "a.png", transparent=True), lambda px: close(px[10, 2], (255, 255, 255))),
    (lambda p: rgba_png(p / "a.png"), lambda px: close(px[10, 2], RED) and close(px[10, 17], (255, 255, 255))),
    # Stored red-over-blue, tagged "rotate 90 clockwise": upright, red is on the right.
    (lambda p: exif_rotated_jpeg(p / "a.jpg"), lambda px: close(px[10, 17], RED, 30) and close(px[10, 2], BLUE, 30)),
    (lambda p: solid(p / "a.webp", (10, 200, 30)), lambda px: close(px[5, 5], (10, 200, 30), 6)),
    (lambda p: solid(p / "a.bmp", (10, 200, 30)), lambda px: close(px[5, 5], (10, 200, 30), 0)),
    (lambda p: solid(p / "a.tif", (10, 200, 30)), lambda px: close(px[5, 5], (10, 200, 30), 0)),
    (lambda p: solid(p / "a.png", (77, 0), mode="LA"), lambda px: px.ndim == 2 and px[5, 5] == 255),
    (lambda p: solid(p / "a.png", 90, mode="L"), lambda px: px.ndim == 2 and px[5, 5] == 90),
], ids=["16-bit", "cmyk", "palette", "palette-transparent", "rgba", "exif-rotated", "webp", "bmp", "tiff", "la", "gray"])
def test_every_mode_becomes_8_bit_gray_or_rgb(tmp_path, make, check):
    d = decode_image(make(tmp_path), 20)
    assert d.error is None and d.pixels.dtype == np.uint8 and d.pixels.shape[:2] == (20, 20)
    assert check(d.pixels)


def test_gray_folders_are_stored_with_one_channel_and_mixed_ones_as_rgb(tmp_path):
    for i in range(3):
        solid(tmp_path / "gray" / "a" / f"{i}.png", 10 * i + 1, mode="L")
        png_16bit(tmp_path / "gray" / "b" / f"{i}.png", value=257 * (i + 1))
    assert load_dataset(f"imagefolder:{tmp_path / 'gray'}").channels == 1
    cmyk_jpeg(tmp_path / "gray" / "b" / "colour.jpg")
    mixed = load_dataset(f"imagefolder:{tmp_path / 'gray'}")
    assert mixed.channels == 3
    # A gray image in an RGB dataset has equal channels.
    gray = mixed.images[mixed.labels == 0][0]
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])


def test_non_square_photos_are_centre_cropped_and_stored_at_the_cache_size(tmp_path):
    im = Image.new("RGB", (600, 300), BLUE)
    im.paste(RED, (150, 0, 450, 300))  # the middle square is red
    for c in ("a", "b"):
        (tmp_path / "wide" / c).mkdir(parents=True)
        for i in range(2):
            im.save(tmp_path / "wide" / c / f"{i}.jpg")
    ds = load_dataset(f"imagefolder:{tmp_path / 'wide'}")
    assert tuple(ds.images.shape[1:]) == (3, 256, 256)
    corner = ds.images[0, :, 2, 2].tolist()
    assert close(corner, RED, 30)  # the blue sides were cropped away, not squashed in
    bigger = load_dataset(f"imagefolder:{tmp_path / 'wide'}", image_size=288)
    assert tuple(bigger.images.shape[2:]) == (288, 288)  # training above 256 px gets its own, sharper cache


# -- the cache --------------------------------------------------------------------------------------------
def test_decoded_once_and_a_changed_folder_is_decoded_again(tmp_path, monkeypatch):
    root = good_folder(tmp_path / "data", per_class=3)
    first = load_dataset(f"imagefolder:{root}")
    real_decode = imagefolder_module.decode_image

    def must_not_decode(*a, **k):
        raise AssertionError("decoded again although nothing changed")

    monkeypatch.setattr(imagefolder_module, "decode_image", must_not_decode)
    assert torch.equal(load_dataset(f"imagefolder:{root}").images, first.images)
    monkeypatch.setattr(imagefolder_module, "decode_image", real_decode)
    noisy(root / "cat" / "new.png", seed=99)
    assert len(load_dataset(f"imagefolder:{root}").labels) == 7
    os.utime(root / "dog" / "0.png", ns=(1, 1))  # a new time, the same bytes: keyed by bytes, not decoded again
    monkeypatch.setattr(imagefolder_module, "decode_image", must_not_decode)
    assert len(load_dataset(f"imagefolder:{root}").labels) == 7
    noisy(root / "dog" / "0.png", seed=4242)  # the same name, other bytes
    with pytest.raises(AssertionError):
        load_dataset(f"imagefolder:{root}")


# -- torchvision datasets ---------------------------------------------------------------------------------
def test_torchvision_offline_says_so_in_one_line(tmp_path, monkeypatch):
    def offline(cls, root, kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision_sets, "_download", offline)
    with pytest.raises(DataUnavailable) as e:
        load_dataset("torchvision:cifar10", data_root=tmp_path)
    msg = str(e.value)
    assert "torchvision:cifar10 is not on this machine and downloading it failed" in msg
    assert "name resolution" in msg and "connect to the internet once" in msg and "\n" not in msg


class FakeFlowers:
    """What torchvision's Flowers102 exposes: image files, labels and class names."""

    classes = ["rose", "tulip"]

    def __init__(self, root, split, download):
        folder = Path(root) / "flowers-102" / split
        if not folder.is_dir():
            raise RuntimeError("Dataset not found or corrupted.")
        self._image_files = sorted(folder.glob("*.jpg"))
        self._labels = [int(p.stem.split("_")[0]) for p in self._image_files]


def test_torchvision_file_datasets_are_decoded_like_a_folder(tmp_path, monkeypatch):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "Flowers102", FakeFlowers)

    def download(cls, root, kwargs):
        for i in range(4):
            noisy(root / "flowers-102" / kwargs["split"] / f"{i % 2}_{i}.jpg", seed=i, size=(40, 30))

    monkeypatch.setattr(torchvision_sets, "_download", download)
    ds = load_dataset("torchvision:flowers102", data_root=tmp_path)
    assert ds.class_names == ["rose", "tulip"]
    assert len(ds.labels) == 8 and len(ds.test_labels) == 4  # train + val merged, official test kept
    assert tuple(ds.images.shape[1:]) == (3, 30, 30) and "Flowers-102" in ds.description


class FakeCifar:
    """What torchvision's CIFAR10 exposes once its files are on disk: pixels in memory."""

    classes = ["airplane", "automobile"]

    def __init__(self, root, train, download):
        n = 6 if train else 4
        self.data = np.full((n, 32, 32, 3), 7 if train else 9, dtype=np.uint8)
        self.targets = [i % 2 for i in range(n)]


def test_torchvision_cifar_keeps_its_pixels_and_official_test_split(tmp_path, monkeypatch):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCifar)
    ds = load_dataset("torchvision:cifar10", data_root=tmp_path)
    assert tuple(ds.images.shape) == (6, 3, 32, 32) and int(ds.images.max()) == 7
    assert tuple(ds.test_images.shape) == (4, 3, 32, 32) and ds.class_names == ["airplane", "automobile"]
    assert "no licence stated" in ds.licence


# -- the dataset check ------------------------------------------------------------------------------------
def test_inspect_reports_counts_sizes_duplicates_and_imbalance(tmp_path):
    root = good_folder(tmp_path / "data", classes=("big", "small"), per_class=3)
    for i in range(3, 40):
        noisy(root / "big" / f"{i}.png", seed=i, size=(60, 20))  # far from square
    (root / "small" / "copy of big 0.png").write_bytes((root / "big" / "0.png").read_bytes())
    (root / "big" / "again.png").write_bytes((root / "big" / "1.png").read_bytes())
    r = inspect_source(f"imagefolder:{root}", sizes=[2, 3])
    assert r.class_names == ["big", "small"] and r.counts == [41, 4]
    assert r.imbalance > 10 and any("heavy imbalance" in w for w in r.warnings)
    assert r.duplicates_across_classes == [[("big", "big/0.png"), ("small", "small/copy of big 0.png")]]
    assert r.duplicate_copies == 1
    assert r.size_spread["width"] == {"min": 24, "median": 60, "max": 60} and r.far_from_square == 37
    assert r.small_classes == [("small", 2)] and not r.usable
    assert "size 3 per class is more than class 'small' has for training: 2 images" in r.problems[0]
    text = render_text(r)
    assert "'small'" in text and "too few for size 3" in text and "not usable" in text
    json.dumps(r.to_dict())  # the dashboard and --json take it as is


def test_cli_inspect_prints_the_report_and_exit_codes(tmp_path, tlcompare_home, capsys):
    root = good_folder(tmp_path / "data", per_class=6)
    (root / "dog" / "broken.png").write_text("not an image")

    def cli(*args):
        return tlc("inspect", *args, capsys=capsys)

    p = cli(f"imagefolder:{root}", "--sizes", "2")
    assert p.returncode == 0, p.stderr
    assert "dog/broken.png: not a JPEG, PNG, BMP, TIFF or WebP image" in p.stdout and "usable" in p.stdout
    p = cli(f"imagefolder:{root}", "--strict")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("tlcompare: error: 1 unreadable files (--strict stops on any)")
    p = cli(f"imagefolder:{root}", "--sizes", "50")
    assert p.returncode == 2 and "use sizes up to 4" in p.stderr


# -- end to end ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_zip_of_own_photos_runs_end_to_end_on_the_cli(tmp_path, tlcompare_home, capsys, one_thread):
    root = good_folder(tmp_path / "photos", classes=("ok part", "défaut"), per_class=8)
    archive = zip_of_folder(root, tmp_path / "parts.zip")
    out = tmp_path / "res.json"
    p = tlc("run", "--dataset", f"zip:{archive}", "--sizes", "2", "--seeds", "1", "--freeze", "all", "--budget", "epochs",
            "--epochs", "2", "--image-size", "16", "--device", "cpu", "--out", out, capsys=capsys)
    assert p.returncode == 0, p.stderr
    (data,) = json.loads(out.read_text())["experiments"]
    assert data["environment"]["class_names"] == ["défaut", "ok part"]
    assert [r["status"] for r in data["runs"]] == ["done", "done"]
    assert data["spec"]["dataset"] == f"zip:{archive.resolve()}"


def test_the_report_names_unusable_sources_in_one_line(tmp_path):
    with pytest.raises(UserError) as e:
        inspect_source(f"imagefolder:{tmp_path / 'nope'}")
    assert "does not exist" in str(e.value)
