"""An experiment's setup in words people read: headers, captions and the report's setup table.

Internal names (``efficientnet_lite0``, ``lr_scratch``, ``seeds: [0]``) stay in the spec, the CLI and
the exports that scripts read; what a person reads says "EfficientNet-Lite0", "learning rate,
scratch" and "2 seeds (0, 1)".
"""

from __future__ import annotations

# The spec's keys as the report's setup table names them, in the spec's own order.
SPEC_WORDS = {
    "name": "name", "dataset": "dataset", "data_root": "data folder", "source_key": "dataset content key",
    "model": "backbone", "weights": "pretrained weights", "weights_key": "checkpoint content key",
    "sizes": "labelled images per class", "freeze": "freezing depths (pretrained arm)", "seeds": "seeds",
    "budget": "training budget", "epochs": "epochs", "steps": "optimizer steps per run (steps budget)",
    "patience": "patience in optimizer steps (converged budget)",
    "min_steps": "fewest optimizer steps (converged budget)", "max_epochs": "most epochs (converged budget)",
    "batch_size": "batch size", "image_size": "image size (px)", "augment": "augmentation", "optimizer": "optimizer",
    "lr_scratch": "learning rate, scratch", "lr_pretrained": "learning rate, pretrained",
    "weight_decay": "weight decay", "warmup_epochs": "warm-up epochs", "label_smoothing": "label smoothing",
    "head_lr_mult": "head learning-rate multiplier", "min_steps_per_epoch": "fewest optimizer steps per epoch",
    "small_cnn": "small CNN arm", "feature_cache": "cache frozen features", "random_control": "random-features control",
    "target_acc": "target validation accuracy (time to target)", "validation": "validation images",
    "val_fraction": "validation share (held out)",
    "test_fraction": "test share", "split_seed": "split seed", "device": "device",
}


def spec_word(key: str) -> str:
    return SPEC_WORDS.get(key, key.replace("_", " "))


def plural(n: int, word: str) -> str:
    """'1 seed', '3 seeds'."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def seeds_text(seeds) -> str:
    """'1 seed (0)', '3 seeds (0, 1, 2)'."""
    seeds = list(seeds or [])
    return plural(len(seeds), "seed") + (f" ({', '.join(map(str, seeds))})" if seeds else "")


# The titles of the built-in datasets and models, written down so that reading pages (History, Live)
# name them without importing torch; tests/test_setup_text.py checks them against the registries.
DATASET_TITLES = {
    "digits": "Handwritten digits (scikit-learn)",
    "elpv": "ELPV solar cells: defective vs functional",
    "elpv4": "ELPV solar cells: 4 defect-probability levels",
    "fashion-mnist": "Fashion-MNIST",
    "mnist": "MNIST",
}
MODEL_TITLES = {
    "efficientnet_lite0": "EfficientNet-Lite0", "efficientnet_lite1": "EfficientNet-Lite1",
    "efficientnet_lite2": "EfficientNet-Lite2", "resnet18": "ResNet-18", "resnet50": "ResNet-50",
    "mobilenet_v3_large": "MobileNetV3-Large", "small_cnn": "Small CNN",
}


def dataset_title(spec: dict, environment: dict | None = None) -> str:
    """A built-in's title ('Handwritten digits (scikit-learn)'), else the data's own name (a folder's name)."""
    name = str(spec.get("dataset"))
    if name in DATASET_TITLES:
        return DATASET_TITLES[name]
    return str((environment or {}).get("dataset") or name)


def model_title(name: str) -> str:
    return MODEL_TITLES.get(name, str(name))  # a model removed since: its name is all there is


def setup_line(spec: dict, environment: dict | None = None) -> str:
    """'Handwritten digits (scikit-learn) · EfficientNet-Lite0 · 32 px images · 2 seeds · validation within
    the labelled images': where the validation images came from changes the answer, so it is always said
    (a spec stored without the key predates within and validated on a held-out set)."""
    where = ("validation within the labelled images" if spec.get("validation") == "within"
             else "validation on a held-out set")
    return " · ".join([dataset_title(spec, environment), model_title(spec.get("model", "")),
                       f"{spec.get('image_size')} px images", plural(len(spec.get("seeds") or []), "seed"), where])


WALL_VS_TRAINING = ("Training time counts only the optimizer's work (the seconds each run spent training, summed); "
                    "wall time is the clock from start to end, with data loading, evaluation and the waits between "
                    "runs, so it is longer.")


# The spec's choices as the form names them (the form adds advice in brackets; exports say the name).
AUGMENT_TITLES = {
    "none": "none", "crop": "random shifts", "flip": "left-right flips", "crop_flip": "random shifts and flips",
    "resized_crop_flip": "random resized crops and flips",
}
OPTIMIZER_TITLES = {"adamw": "AdamW", "sgd": "SGD with Nesterov momentum"}
# The budget's settings: the budget row says those it reads, in words; the others stay in the stored
# spec (and the JSON) but mean nothing for this experiment.
BUDGET_SETTINGS = ("epochs", "steps", "patience", "max_epochs")


def augment_title(name) -> str:
    return AUGMENT_TITLES.get(name, str(name))


def optimizer_title(name) -> str:
    return OPTIMIZER_TITLES.get(name, str(name))


def budget_words(spec: dict) -> str:
    """'3 epochs per run', 'until validation accuracy stops improving (patience 10 epochs, ...)'."""
    from dataclasses import MISSING, fields
    from types import SimpleNamespace

    from tlcompare.spec import BUDGETS, ExperimentSpec

    # From the stored values and the spec's defaults, not by rebuilding the spec (that validates the
    # dataset, which a page that only reads the store must not). A spec stored before budgets
    # existed trained under equal epochs.
    values = {f.name: f.default for f in fields(ExperimentSpec) if f.default is not MISSING}
    values.update({"budget": "epochs", **{k: v for k, v in spec.items() if v is not None}})
    values["min_steps"] = spec.get("min_steps")  # absent or None: stored when patience counted epochs
    if values["budget"] not in BUDGETS:  # a spec this version does not understand: its own word
        return str(values["budget"])
    return ExperimentSpec.budget_text(SimpleNamespace(**values))


def describe(spec: dict, environment: dict | None = None) -> str:
    """'Handwritten digits (scikit-learn) · EfficientNet-Lite0 · 16 px images · random shifts · AdamW ·
    3 epochs per run': the line under an experiment's heading in every export."""
    return " · ".join([dataset_title(spec, environment), model_title(spec.get("model", "")),
                       f"{spec.get('image_size')} px images", augment_title(spec.get("augment", "crop")),
                       optimizer_title(spec.get("optimizer", "adamw")), budget_words(spec)])


def _depth_words(depths) -> str:
    from tlcompare.text.variants import variant

    return ", ".join(variant("pretrained", d).removeprefix("pretrained, ") for d in depths or [])


def _percent(x) -> str:
    return f"{100 * float(x):g} %"


def _default_lr(spec: dict, arm: str) -> str:
    from tlcompare.spec import DEFAULT_LR

    lr = DEFAULT_LR.get(spec.get("optimizer", "adamw"), DEFAULT_LR["adamw"])[arm]
    return f"{lr:g} (the optimizer's default)"


def setup_rows(spec: dict, environment: dict | None = None) -> list[tuple[str, str]]:
    """The spec as (setting, value) rows in the form's words, for the report's setup table: built-in
    names as titles, choices as the form names them, only the settings the chosen budget reads."""
    words = {
        "dataset": lambda v: dataset_title(spec, environment),
        "model": model_title,
        "weights": lambda v: v,
        "freeze": _depth_words,
        "seeds": seeds_text,
        "budget": lambda v: budget_words(spec),
        "augment": augment_title,
        "optimizer": optimizer_title,
        "lr_scratch": lambda v: _default_lr(spec, "scratch") if v is None else f"{v:g}",
        "lr_pretrained": lambda v: _default_lr(spec, "pretrained") if v is None else f"{v:g}",
        "target_acc": _percent, "val_fraction": _percent, "test_fraction": _percent,
        "device": lambda v: "the best one available (auto)" if v == "auto" else v,
    }
    rows = []
    for key, value in spec.items():
        if key in BUDGET_SETTINGS:
            continue
        if value is None and key not in ("lr_scratch", "lr_pretrained"):
            continue  # not set: no data folder, no checkpoint, no content key
        if key == "name" and not value:
            continue
        shown = words[key](value) if key in words else _value(value)
        rows.append((spec_word(key), str(shown)))
    if spec and "validation" not in spec:  # stored before the setting: validated on the held-out set
        rows.append((spec_word("validation"), "held_out"))
    return rows


def _value(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v)
    return str(v)
