"""Linear probes without augmentation train their head on frozen features computed once."""

from __future__ import annotations

import pytest
import torch

from tlcompare.spec import build_spec
from tlcompare.train import prepare, train_run

BASE = {"dataset": "digits", "model": "efficientnet_lite0", "image_size": 16, "sizes": [5, 10], "seeds": [0, 1],
        "freeze": ["all"], "budget": "epochs", "epochs": 4, "augment": "none", "device": "cpu"}


def _probes(values: dict) -> list:
    spec = build_spec(values)
    data = prepare(spec, torch.device("cpu"))
    return [train_run(r, data, torch.device("cpu")) for r in spec.runs() if r.arm == "pretrained"]


@pytest.mark.slow
def test_cached_features_train_the_same_probe_as_the_full_forward(one_thread):
    cached = _probes(BASE)
    full = _probes({**BASE, "feature_cache": False})
    # Computed by the first probe, reused by every other size and seed of the experiment.
    assert [r.feature_cache for r in cached] == ["computed", "reused", "reused", "reused"]
    assert all(r.feature_cache is None for r in full)
    for c, f in zip(cached, full, strict=True):
        assert c.subset_hash == f.subset_hash and c.trainable_params == f.trainable_params
        # Same head init, batches and schedule; only float rounding in the body differs.
        assert [e["train_loss"] for e in c.epochs] == pytest.approx([e["train_loss"] for e in f.epochs], rel=1e-3)
        assert c.final["test_acc"] == pytest.approx(f.final["test_acc"], abs=0.01)
        assert c.final["val_acc"] == pytest.approx(f.final["val_acc"], abs=0.01)


def test_only_unaugmented_linear_probes_use_the_cache():
    spec = build_spec({**BASE, "freeze": [0, "all"], "small_cnn": True})
    assert [r.caches_features for r in spec.runs()[:4]] == [False, False, True, False]
    assert not any(r.caches_features for r in build_spec({**BASE, "augment": "crop"}).runs())
    # The option is part of the probe's hash only: scratch runs keep theirs and stay reusable.
    off = build_spec({**BASE, "feature_cache": False}).runs()
    on = build_spec(BASE).runs()
    assert [a.config_hash() == b.config_hash() for a, b in zip(on, off, strict=True)] == [True, False] * 4


def test_the_dropout_above_a_frozen_body_is_reproduced():
    from tlcompare.models import apply_freeze, create_backbone
    from tlcompare.train.features import head_dropout

    mobilenet = create_backbone("mobilenet_v3_large", num_classes=3, pretrained=False)
    apply_freeze(mobilenet, "all")
    assert head_dropout(mobilenet) == pytest.approx(0.2)  # torchvision's classifier[2], before the new head
    resnet = create_backbone("resnet18", num_classes=3, pretrained=False)
    apply_freeze(resnet, "all")
    assert head_dropout(resnet) == 0.0
