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
    """'Handwritten digits (scikit-learn) · EfficientNet-Lite0 · 32 px images · 2 seeds', and where the
    validation images come from when they are not a held-out set."""
    within = ["validation within the labelled images"] if spec.get("validation") == "within" else []
    return " · ".join([dataset_title(spec, environment), model_title(spec.get("model", "")),
                       f"{spec.get('image_size')} px images", plural(len(spec.get("seeds") or []), "seed"), *within])


WALL_VS_TRAINING = ("Training time counts only the optimizer's work (the seconds each run spent training, summed); "
                    "wall time is the clock from start to end, with data loading, evaluation and the waits between "
                    "runs, so it is longer.")
