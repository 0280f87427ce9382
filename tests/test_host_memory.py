"""Datasets over the GPU memory budget stay in host memory; runs train the same either way."""

from __future__ import annotations

import pytest
import torch

from tlcompare.spec import build_spec
from tlcompare.train import prepare, train_run
from tlcompare.train.data import fits_on_device

SPEC = {"dataset": "digits", "image_size": 16, "sizes": [4], "seeds": 1, "freeze": [0, "all"], "budget": "epochs", "epochs": 2,
        "augment": "none", "device": "cpu"}


def test_the_budget_decides_where_the_images_live():
    assert fits_on_device(10**12, torch.device("cpu"))  # host memory is the CPU's own
    assert not fits_on_device(1001, torch.device("cpu"), budget_bytes=1000)
    assert fits_on_device(1000, torch.device("cpu"), budget_bytes=1000)


@pytest.mark.slow
def test_a_dataset_kept_on_the_host_trains_exactly_like_a_resident_one(one_thread):
    spec = build_spec(SPEC)
    resident = prepare(spec, torch.device("cpu"))
    host = prepare(spec, torch.device("cpu"), budget_bytes=0)
    assert not resident.on_host and host.on_host
    assert torch.equal(resident.images, host.images) and torch.equal(resident.test_images, host.test_images)
    for run in spec.runs():  # scratch, fine-tune all, and the linear probe's cached features
        a = train_run(run, resident, torch.device("cpu"))
        b = train_run(run, host, torch.device("cpu"))
        assert [e["train_loss"] for e in a.epochs] == pytest.approx([e["train_loss"] for e in b.epochs], rel=1e-6)
        assert a.final["test_acc"] == b.final["test_acc"] and a.confusion == b.confusion
