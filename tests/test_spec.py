import pytest

from tlcompare.errors import SpecError
from tlcompare.spec import build_spec, load_toml


def test_toml_keys_mirror_flags(tmp_path):
    f = tmp_path / "exp.toml"
    f.write_text('dataset = "digits"\nimage_size = 32\nsizes = [20, 5]\nfreeze = [0, "all"]\nseeds = 3\nsmall_cnn = true\n')
    spec = build_spec(load_toml(f))
    assert spec.image_size == 32 and spec.sizes == (5, 20) and spec.freeze == (0, "all")
    assert spec.seeds == (0, 1, 2) and spec.small_cnn


def test_flag_strings_parse_like_toml():
    spec = build_spec({"sizes": "5,20,100", "freeze": "all,0,2", "seeds": "3", "epochs": 4})
    assert spec.sizes == (5, 20, 100) and spec.freeze == (0, 2, "all") and spec.seeds == (0, 1, 2)
    assert build_spec({"seeds": "4,7"}).seeds == (4, 7)


def test_expansion_pairs_every_arm_on_each_size_and_seed():
    spec = build_spec({"sizes": [5, 20], "seeds": 2, "freeze": [0, "all"], "small_cnn": True})
    runs = spec.runs()
    assert len(runs) == 2 * 2 * 4
    for size in (5, 20):
        for seed in (0, 1):
            group = [(r.arm, r.freeze) for r in runs if r.size == size and r.seed == seed]
            assert group == [("scratch", None), ("pretrained", 0), ("pretrained", "all"), ("small_cnn", None)]


def test_config_hash_is_stable_and_sensitive():
    a = build_spec({"sizes": [5], "seeds": 1, "freeze": [0], "device": "cpu"}).runs()
    b = build_spec({"sizes": [5], "seeds": 1, "freeze": [0], "device": "cuda"}).runs()
    c = build_spec({"sizes": [5], "seeds": 1, "freeze": [0], "min_steps": 300}).runs()
    assert [r.config_hash() for r in a] == [r.config_hash() for r in b]  # device is not part of the question
    assert a[0].config_hash() != c[0].config_hash()
    assert a[0].config_hash() != a[1].config_hash()  # scratch vs pretrained


def test_learning_rates_default_per_arm():
    spec = build_spec({})
    assert spec.lr_for("pretrained") < spec.lr_for("scratch")
    assert build_spec({"lr_pretrained": 1e-4}).lr_for("pretrained") == 1e-4


def test_every_invalid_value_gets_its_own_line():
    with pytest.raises(SpecError) as e:
        build_spec({"dataset": "nope", "sizes": "5,x", "freeze": "top", "epochs": 0, "augment": "mixup", "colour": 1})
    text = "\n".join(e.value.problems)
    for word in ("'x' is not a whole number", "freeze: 'top'", "unknown setting 'colour'"):
        assert word in text
    with pytest.raises(SpecError) as e:
        build_spec({"dataset": "nope", "epochs": 0, "augment": "mixup", "image_size": 4})
    assert len(e.value.problems) == 4


# -- values no training can use, and values that are almost always typos --------------------------
def test_absurd_training_settings_are_refused_with_the_reason():
    with pytest.raises(SpecError) as e:
        build_spec({"weight_decay": 9, "label_smoothing": 0.9, "budget": "epochs", "epochs": 5, "warmup_epochs": 100})
    text = str(e.value)
    assert "weight_decay: 9 would shrink the weights faster than training moves them" in text
    assert "label_smoothing: 0.9 leaves the true class barely ahead" in text
    assert "warmup_epochs: 100 warm-up epochs with 5 epochs: the learning rate would still be rising when training ends" in text
    # The defaults and the ends of the allowed ranges still pass.
    build_spec({"weight_decay": 1.0, "label_smoothing": 0.5, "budget": "epochs", "epochs": 1, "warmup_epochs": 1})


def test_doubtful_settings_are_warnings_the_form_and_the_cli_share():
    from tlcompare.spec import doubts

    assert doubts(build_spec({})) == []
    lines = doubts(build_spec({"lr_scratch": 10, "weight_decay": 0.5, "label_smoothing": 0.4, "budget": "epochs",
                               "epochs": 10, "warmup_epochs": 6}))
    assert [line.split(":")[0] for line in lines] == ["lr_scratch", "weight_decay", "label_smoothing", "warmup_epochs"]
    assert "the default is 0.002" in lines[0]
    assert doubts(build_spec({"optimizer": "sgd", "lr_scratch": 0.1, "lr_pretrained": 0.01, "weight_decay": 5e-4})) == []
