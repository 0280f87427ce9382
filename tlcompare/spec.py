"""What to run: a validated ExperimentSpec and the paired RunSpecs it expands into.

An experiment is a grid: for every training-set size and seed, one run from random init
("scratch"), one pretrained run per freezing depth, and optionally the small task-sized CNN.
All runs of one size and seed share the same training subset, validation set and test set, so
their difference is the effect of the initialisation alone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import tomllib

from tlcompare.errors import SpecError, UserError

ARMS = ("scratch", "pretrained", "small_cnn")
AUGMENTS = ("none", "crop", "flip", "crop_flip", "resized_crop_flip")
OPTIMIZERS = ("adamw", "sgd")

# Fine-tuning starts from weights that already solve a related task, so large steps would wreck
# them; training from random init needs larger steps to get anywhere in the same epochs. These
# defaults held up on digits, ELPV and Fashion-MNIST with AdamW and a cosine schedule.
DEFAULT_LR = {"adamw": {"scratch": 2e-3, "pretrained": 5e-4}, "sgd": {"scratch": 0.1, "pretrained": 0.01}}


@dataclass(frozen=True)
class ExperimentSpec:
    dataset: str = "digits"
    model: str = "efficientnet_lite0"
    weights: str | None = None  # a local checkpoint as the pretrained source; None = the model's default
    data_root: str | None = None
    sizes: tuple[int, ...] = (5, 20, 100)
    freeze: tuple[int | str, ...] = (0, "all")
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 20
    batch_size: int = 64
    image_size: int = 32
    # Translation only: safe for every dataset (mirrored digits are not digits); flips are opt-in.
    augment: str = "crop"
    optimizer: str = "adamw"
    lr_scratch: float | None = None
    lr_pretrained: float | None = None
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    # The new classifier head of a pretrained model starts from nothing, unlike the body under it:
    # it learns this many times faster (fastai-style discriminative rates). Scratch arms use 1x.
    head_lr_mult: float = 10.0
    # Tiny subsets would get one optimizer step per epoch: the batch shrinks (never below 8) so
    # every epoch has at least this many steps. Both arms of a pair always share the batch size.
    min_steps_per_epoch: int = 4
    small_cnn: bool = False
    # A linear probe without augmentation sees the same frozen features every epoch: compute them
    # once per dataset, backbone and resolution and train only the head on them.
    feature_cache: bool = True
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    split_seed: int = 0
    device: str = "auto"
    name: str = ""

    # -- derived values -------------------------------------------------------------------------
    def lr_for(self, arm: str) -> float:
        explicit = self.lr_pretrained if arm == "pretrained" else self.lr_scratch
        if explicit is not None:
            return explicit
        return DEFAULT_LR[self.optimizer]["pretrained" if arm == "pretrained" else "scratch"]

    def runs(self) -> list[RunSpec]:
        """Expand into runs, ordered so that each size and seed's pair runs back to back."""
        out = []
        for size in self.sizes:
            for seed in self.seeds:
                out.append(RunSpec(self, "scratch", size, seed, None))
                for depth in self.freeze:
                    out.append(RunSpec(self, "pretrained", size, seed, depth))
                if self.small_cnn:
                    out.append(RunSpec(self, "small_cnn", size, seed, None))
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("sizes", "freeze", "seeds"):
            d[key] = list(d[key])
        return d

    def title(self) -> str:
        return self.name or f"{self.dataset} / {self.model}"


@dataclass(frozen=True)
class RunSpec:
    """One training run: an arm of the comparison at one size, seed and freezing depth."""

    experiment: ExperimentSpec = field(repr=False)
    arm: str
    size: int
    seed: int
    freeze: int | str | None

    @property
    def lr(self) -> float:
        return self.experiment.lr_for(self.arm)

    @property
    def head_lr_mult(self) -> float:
        return self.experiment.head_lr_mult if self.arm == "pretrained" else 1.0

    def batch_size(self, n_train: int) -> int:
        e = self.experiment
        return max(1, min(e.batch_size, n_train, max(8, -(-n_train // e.min_steps_per_epoch))))

    @property
    def model(self) -> str:
        return "small_cnn" if self.arm == "small_cnn" else self.experiment.model

    def config(self) -> dict[str, Any]:
        """Everything that determines this run's result; the basis of its hash.

        The device is left out on purpose: a run measured on another device answers the same
        question, and its device is stored beside the result.
        """
        e = self.experiment
        return {
            "dataset": e.dataset, "data_root": e.data_root, "model": self.model,
            "weights": e.weights if self.arm == "pretrained" else None,
            "arm": self.arm, "size": self.size, "seed": self.seed, "freeze": self.freeze,
            "epochs": e.epochs, "batch_size": e.batch_size, "image_size": e.image_size,
            "augment": e.augment, "optimizer": e.optimizer, "lr": self.lr,
            "weight_decay": e.weight_decay, "warmup_epochs": e.warmup_epochs,
            "label_smoothing": e.label_smoothing,
            "head_lr_mult": e.head_lr_mult if self.arm == "pretrained" else 1.0,
            "min_steps_per_epoch": e.min_steps_per_epoch, "val_fraction": e.val_fraction,
            "test_fraction": e.test_fraction, "split_seed": e.split_seed,
            # Only where it applies, so every other run keeps its hash (and its reusable result).
            **({"feature_cache": e.feature_cache} if self.caches_features else {}),
        }

    @property
    def caches_features(self) -> bool:
        e = self.experiment
        return e.feature_cache and self.arm == "pretrained" and self.freeze == "all" and e.augment == "none"

    def config_hash(self) -> str:
        blob = json.dumps(self.config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def label(self) -> str:
        depth = "" if self.freeze is None else f" freeze={self.freeze}"
        return f"{self.arm}{depth} size={self.size} seed={self.seed}"


# -- parsing and validation -------------------------------------------------------------------------
_FIELDS = {f.name for f in fields(ExperimentSpec)}


def _int_list(value: Any, key: str, problems: list[str]) -> tuple[int, ...]:
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        try:
            if isinstance(item, bool) or (isinstance(item, float) and not item.is_integer()):
                raise ValueError
            out.append(int(str(item).strip()))
        except ValueError:
            problems.append(f"{key}: '{item}' is not a whole number (example: {key} = [5, 20, 100])")
    return tuple(out)


def _freeze_list(value: Any, problems: list[str]) -> tuple[int | str, ...]:
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list | tuple) else [value]
    out: list[int | str] = []
    for item in items:
        text = str(item).strip().lower()
        if text == "all":
            out.append("all")
        elif text.isdigit():
            out.append(int(text))
        else:
            problems.append(f"freeze: '{item}' is not a depth: use 0 (fine-tune all), a stage count, or 'all' (linear probe)")
    return tuple(out)


def _seeds(value: Any, problems: list[str]) -> tuple[int, ...]:
    # A single number is a count (seeds = 3 means 0, 1, 2); a list names the seeds.
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            problems.append(f"seeds: {value} must be at least 1 (a count) or a list of seeds")
            return ()
        return tuple(range(value))
    if isinstance(value, str) and "," not in value and value.strip().isdigit():
        return _seeds(int(value), problems)
    return _int_list(value, "seeds", problems)


def build_spec(values: dict[str, Any]) -> ExperimentSpec:
    """Validate loose values (from TOML, CLI flags or a form) into a spec; every problem is listed."""
    problems: list[str] = []
    clean: dict[str, Any] = {}
    for key, value in values.items():
        key = key.replace("-", "_")
        if value is None and key not in ("weights", "data_root", "lr_scratch", "lr_pretrained"):
            continue
        if key not in _FIELDS:
            problems.append(f"unknown setting '{key}'")
            continue
        clean[key] = value

    if "sizes" in clean:
        clean["sizes"] = _int_list(clean["sizes"], "sizes", problems)
    if "freeze" in clean:
        clean["freeze"] = _freeze_list(clean["freeze"], problems)
    if "seeds" in clean:
        clean["seeds"] = _seeds(clean["seeds"], problems)
    defaults = ExperimentSpec()
    for key in ("epochs", "batch_size", "image_size", "split_seed", "min_steps_per_epoch"):
        if key in clean:
            ints = _int_list(clean[key], key, problems)
            if len(ints) == 1:
                clean[key] = ints[0]
            else:
                clean.pop(key)
                if ints:
                    problems.append(f"{key}: give one whole number, not a list")
    for key in ("lr_scratch", "lr_pretrained", "weight_decay", "warmup_epochs", "label_smoothing", "head_lr_mult", "val_fraction", "test_fraction"):
        if clean.get(key) is not None:
            try:
                clean[key] = float(clean[key])
            except (TypeError, ValueError):
                problems.append(f"{key}: '{clean[key]}' is not a number")
                clean.pop(key)
    for key in ("small_cnn", "feature_cache"):
        if key in clean and not isinstance(clean[key], bool):
            clean[key] = str(clean[key]).lower() in ("1", "true", "yes", "on")
    for key in ("dataset", "model", "augment", "optimizer", "device", "name"):
        if key in clean:
            clean[key] = str(clean[key]).strip()
    if "dataset" in clean:
        from tlcompare.data.sources import canonical_source

        clean["dataset"] = canonical_source(clean["dataset"])  # a worker started elsewhere finds the same path
    # Keep going after parse problems, so the user sees every invalid value at once.
    spec = replace(defaults, **clean)
    already = {p.split(":")[0] for p in problems}
    problems += [p for p in validate(spec) if p.split(":")[0] not in already]
    if problems:
        raise SpecError(problems)
    # Sorted, de-duplicated grids make the run order and the charts predictable.
    depth_key = lambda d: (1, 0) if d == "all" else (0, d)  # noqa: E731
    return replace(
        spec,
        sizes=tuple(sorted(set(spec.sizes))),
        seeds=tuple(sorted(set(spec.seeds))),
        freeze=tuple(sorted(set(spec.freeze), key=depth_key)),
    )


def validate(spec: ExperimentSpec) -> list[str]:
    """Return one line per invalid value (empty when the spec is valid)."""
    from tlcompare.data import check_source
    from tlcompare.models import list_models

    p: list[str] = []
    dataset_problem = check_source(spec.dataset)
    if dataset_problem:
        p.append(f"dataset: {dataset_problem}")
    model_names = [m.name for m in list_models()]
    if spec.model not in model_names or spec.model == "small_cnn":
        choices = ", ".join(n for n in model_names if n != "small_cnn")
        p.append(f"model: unknown '{spec.model}'; choose one of {choices} (small_cnn is the optional third arm: small_cnn = true)")
    if not spec.sizes:
        p.append("sizes: give at least one training-set size (examples per class)")
    p += [f"sizes: {s} must be at least 1 example per class" for s in spec.sizes if s < 1]
    if not spec.seeds:
        p.append("seeds: give at least one seed")
    p += [f"seeds: {s} must be 0 or more" for s in spec.seeds if s < 0]
    if not spec.freeze:
        p.append("freeze: give at least one freezing depth (0 = fine-tune everything, 'all' = linear probe)")
    if spec.epochs < 1 or spec.epochs > 10_000:
        p.append(f"epochs: {spec.epochs} must be between 1 and 10000")
    if spec.batch_size < 1 or spec.batch_size > 65_536:
        p.append(f"batch_size: {spec.batch_size} must be between 1 and 65536")
    if spec.image_size < 8 or spec.image_size > 1024:
        p.append(f"image_size: {spec.image_size} must be between 8 and 1024 pixels")
    if spec.augment not in AUGMENTS:
        p.append(f"augment: unknown '{spec.augment}'; choose one of {', '.join(AUGMENTS)}")
    if spec.optimizer not in OPTIMIZERS:
        p.append(f"optimizer: unknown '{spec.optimizer}'; choose one of {', '.join(OPTIMIZERS)}")
    for key in ("lr_scratch", "lr_pretrained"):
        value = getattr(spec, key)
        if value is not None and not (0 < value < 100):
            p.append(f"{key}: {value} must be a positive learning rate (e.g. 1e-3)")
    if not 0 <= spec.weight_decay < 10:
        p.append(f"weight_decay: {spec.weight_decay} must be between 0 and 10")
    if spec.warmup_epochs < 0:
        p.append(f"warmup_epochs: {spec.warmup_epochs} must be 0 or more")
    if not 0 <= spec.label_smoothing < 1:
        p.append(f"label_smoothing: {spec.label_smoothing} must be in [0, 1)")
    if not 0 < spec.head_lr_mult <= 1000:
        p.append(f"head_lr_mult: {spec.head_lr_mult} must be between 0 and 1000")
    if not 1 <= spec.min_steps_per_epoch <= 1000:
        p.append(f"min_steps_per_epoch: {spec.min_steps_per_epoch} must be between 1 and 1000")
    if not 0 < spec.val_fraction < 0.5:
        p.append(f"val_fraction: {spec.val_fraction} must be between 0 and 0.5")
    if not 0 < spec.test_fraction < 0.5:
        p.append(f"test_fraction: {spec.test_fraction} must be between 0 and 0.5")
    if spec.device != "auto" and spec.device != "cpu" and not spec.device.startswith("cuda"):
        p.append(f"device: unknown '{spec.device}'; use auto, cpu, cuda or cuda:N")
    if spec.weights is not None and not Path(spec.weights).expanduser().is_file():
        p.append(f"weights: checkpoint file '{spec.weights}' does not exist")
    return p


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read an experiment file whose keys mirror the CLI flags (image_size = 32, sizes = [5, 20])."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise UserError(f"experiment file '{path}' does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"experiment file '{path}' is not valid TOML: {e}") from None
    # Allow the settings at top level or under an [experiment] table.
    if "experiment" in data and isinstance(data["experiment"], dict):
        data = {**{k: v for k, v in data.items() if k != "experiment"}, **data["experiment"]}
    return data


def spec_from_dict(d: dict[str, Any]) -> ExperimentSpec:
    """Rebuild a spec stored as ``to_dict()`` output."""
    return build_spec(d)
