"""The random-features control normalises with BatchNorm statistics of its own training images."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn

from tlcompare.models import apply_freeze, create_backbone
from tlcompare.spec import build_spec
from tlcompare.train import prepare, train_run
from tlcompare.train.bn_stats import estimate_bn_statistics
from tlcompare.train.evaluate import image_view, predict
from tlcompare.train.inputs import normaliser

BASE = {"dataset": "digits", "model": "efficientnet_lite0", "image_size": 16, "sizes": [4], "seeds": [3],
        "freeze": ["all"], "random_control": True, "budget": "epochs", "epochs": 1, "augment": "none",
        "device": "cpu"}


def _bn_inputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Every BatchNorm layer's input, in a train-mode forward pass over ``x`` as one batch."""
    seen: list[torch.Tensor] = []
    hooks = [m.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
             for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    model.train()
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return seen


def test_the_controls_bn_statistics_equal_one_pass_over_its_training_images(one_thread):
    spec = build_spec(BASE)
    data = prepare(spec, torch.device("cpu"))
    images = data.images[data.train_indices(4, 3, spec.validation)]
    torch.manual_seed(0)
    backbone = create_backbone("efficientnet_lite0", num_classes=10, pretrained=False, in_chans=1)
    to_input = normaliser(backbone, 1, torch.device("cpu"))
    reference = copy.deepcopy(backbone.model)
    layers = [m for m in backbone.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    # A fresh network: running statistics 0 and 1, never estimated on data.
    assert all(float(m.running_mean.abs().max()) == 0 and float((m.running_var - 1).abs().max()) == 0 for m in layers)
    assert estimate_bn_statistics(backbone.model, images, to_input) == len(layers) > 40
    inputs = _bn_inputs(reference, to_input(images.float() / 255))
    assert len(inputs) == len(layers)
    for m, x in zip(layers, inputs, strict=True):
        # the mean over images and positions, and the unbiased variance, as BatchNorm keeps them
        assert m.running_mean == pytest.approx(x.mean((0, 2, 3)), abs=1e-5, rel=1e-4)
        assert m.running_var == pytest.approx(x.var((0, 2, 3), unbiased=True), abs=1e-5, rel=1e-3)
        assert int(m.num_batches_tracked) == 1 and m.momentum == 0.1  # the layer's own momentum is back


@pytest.mark.slow
def test_a_control_run_probes_features_normalised_on_its_training_images(one_thread):
    spec = build_spec(BASE)
    data = prepare(spec, torch.device("cpu"))
    control = next(r for r in spec.runs() if r.arm == "random")
    assert control.config()["bn_stats"] == "train"
    assert "bn_stats" not in next(r for r in spec.runs() if r.arm == "pretrained").config()
    result = train_run(control, data, torch.device("cpu"))
    assert result.status == "done" and result.feature_cache == "computed"
    cached = data.features[("efficientnet_lite0", "random", 3, 4, "within")].images

    # The same random body (the run seeds its init), its statistics estimated on the same subset.
    torch.manual_seed(control.seed)
    body = create_backbone("efficientnet_lite0", num_classes=10, pretrained=False, in_chans=1)
    apply_freeze(body, "all")
    to_input = normaliser(body, 1, torch.device("cpu"))
    # its training images: under within (the default) 3 of the 4 labelled per class, the 4th validates
    assert spec.validation == "within" and len(data.train_indices(4, 3, spec.validation)) == 30
    estimate_bn_statistics(body.model, data.images[data.train_indices(4, 3, spec.validation)], to_input)
    captured: list[torch.Tensor] = []
    hook = body.head.register_forward_pre_hook(lambda _m, args: captured.append(args[0].float().flatten(1)))
    predict(body.model, data.images, data.labels, image_view(to_input, torch.device("cpu")), torch.device("cpu"))
    hook.remove()
    expected = torch.cat(captured)
    assert cached == pytest.approx(expected, abs=1e-4)
    # ...and not those of the untouched initial statistics (0 and 1), which the control used before.
    torch.manual_seed(control.seed)
    fresh = create_backbone("efficientnet_lite0", num_classes=10, pretrained=False, in_chans=1)
    captured.clear()
    hook = fresh.head.register_forward_pre_hook(lambda _m, args: captured.append(args[0].float().flatten(1)))
    predict(fresh.model, data.images, data.labels, image_view(to_input, torch.device("cpu")), torch.device("cpu"))
    hook.remove()
    assert float((torch.cat(captured) - cached).abs().max()) > 1e-2


@pytest.mark.slow
def test_one_prepared_dataset_keeps_the_controls_features_apart_per_validation_mode(one_thread):
    # A worker keeps one prepared dataset across experiments: a held_out control and a within control of
    # the same seed and size normalise on different training images, so neither may reuse the other's.
    within = build_spec(BASE)
    held = build_spec({**BASE, "validation": "held_out"})
    data = prepare(within, torch.device("cpu"))
    for spec in (held, within):
        control = next(r for r in spec.runs() if r.arm == "random")
        assert train_run(control, data, torch.device("cpu")).feature_cache == "computed"
    a, b = (data.features[("efficientnet_lite0", "random", 3, 4, mode)].images for mode in ("held_out", "within"))
    assert float((a - b).abs().max()) > 1e-3
