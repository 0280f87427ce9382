"""What to run: a validated ExperimentSpec and the paired RunSpecs it expands into.

An experiment is a grid: for every training-set size and seed, one run from random init
("scratch"), one pretrained run per freezing depth, and optionally the small task-sized CNN.
All runs of one size and seed share the same training subset, validation set and test set, so
their difference is the effect of the initialisation alone.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from tlcompare.errors import SpecError, UserError
from tlcompare.text.escape import printable
from tlcompare.text.stages import STAGE_SHAPES, stage_count
from tlcompare.text.variants import depth_order, run_label

ARMS = ("scratch", "pretrained", "small_cnn", "random")
# How long each run trains. "epochs": the same number of passes over its training subset;
# "steps": the same number of optimizer steps whatever the subset size; "converged": until
# validation accuracy stops improving (see train/budget.py). Every arm of a pair gets the same rule.
BUDGETS = ("epochs", "steps", "converged")
AUGMENTS = ("none", "crop", "flip", "crop_flip", "resized_crop_flip")
OPTIMIZERS = ("adamw", "sgd")
# Where the images that choose a run's model (early stopping, and the learning rate when tuned) come
# from: "held_out", a validation set split off the whole dataset and shared by every run; "within",
# a fifth of the run's own N labelled images per class (at least 1), as a user with N labelled
# images per class would have to do it. See data/splits.py. "within" is the default: "held_out"
# validates on images a user with N labelled per class does not have (179 at 5 per class on digits,
# 3.6x the training set), and on digits at 5 per class the two modes gave opposite verdicts
# (docs/validation.md, "the two validation modes side by side"). A spec stored before the default
# changed has no key and trained under "held_out" (``spec_from_dict``).
VALIDATIONS = ("held_out", "within")
# tune = "lr": every arm trains at a grid of learning rates, log-spaced over LR_SPAN around its
# default, at every size and seed; the rate with the best mean validation accuracy over the seeds
# is the arm's result at that size (analysis/tuning.py). A fixed rate per arm can make the gap show
# the learning rate rather than the pretraining (Kornblith et al. 2019 tune every model).
# tune = "lr-ends": the grid only at the smallest and the largest size; each size between trains once,
# at the rate interpolated in log size between the two ends' choices (the nearest rate of the grid).
# Those runs are queued when the end grids have finished (store/ends.py, train/experiment.py).
TUNES = ("none", "lr", "lr-ends")
TUNED = ("lr", "lr-ends")
LR_SPAN = 30.0
MAX_LR_GRID = 12
MAX_RESOLUTIONS = 8
# Below this, ImageNet-pretrained features see images far smaller than they were trained at (224 px
# for most backbones): at 32 px EfficientNet's last feature map is 1x1 and 83.5 % of its 1,280 pooled
# pretrained features are constant over 200 digits training images (13.6 % at 64 px, 11.9 % at 96 px).
# A note, not a refusal: it is the experiment's question.
LOW_RESOLUTION = 64


def within_val_count(size: int) -> int:
    """Validation images per class out of ``size`` labelled ones under ``within``: 20 % rounded half
    up, at least 1 (torch-free, for the texts; data/splits.py draws them)."""
    return 0 if size <= 0 else max(1, (size + 2) // 5)

# Fine-tuning starts from weights that already solve a related task, so large steps would wreck
# them; training from random init needs larger steps to get anywhere in the same epochs. These
# defaults held up on digits, ELPV and Fashion-MNIST with AdamW and a cosine schedule.
DEFAULT_LR = {"adamw": {"scratch": 2e-3, "pretrained": 5e-4}, "sgd": {"scratch": 0.1, "pretrained": 0.01}}

# Limits that keep a typo from queueing a year of training or holding the store for minutes. Each
# is far beyond what a real comparison needs (10,000 runs is 25 sizes x 4 depths x 100 seeds).
MAX_RUNS = 10_000
MAX_SEEDS = 100
MAX_SEED_VALUE = 2**31 - 1
MAX_SIZE = 1_000_000
MAX_EPOCHS = 10_000
MAX_STEPS = 10_000_000
MAX_CONFIG_BYTES = 1 << 20
MAX_NAME = 200
# Beyond these a value cannot train a useful model; they are refused, with the reason.
MAX_WEIGHT_DECAY = 1.0
MAX_LABEL_SMOOTHING = 0.5
# Valid, but almost always a typo: each is a warning the form and the CLI show (see ``doubts``).
DOUBTFUL_LR = {"adamw": 0.01, "sgd": 1.0}
DOUBTFUL_WEIGHT_DECAY = {"adamw": 0.3, "sgd": 0.01}
DOUBTFUL_LABEL_SMOOTHING = 0.3
# Derived from the files a spec names when it is built (content keys); never set by the user.
DERIVED = ("weights_key", "source_key")


@dataclass(frozen=True)
class ExperimentSpec:
    dataset: str = "digits"
    model: str = "efficientnet_lite0"
    weights: str | None = None  # a local checkpoint as the pretrained source; None = the model's default
    data_root: str | None = None
    sizes: tuple[int, ...] = (5, 20, 100)
    freeze: tuple[int | str, ...] = (0, "all")
    seeds: tuple[int, ...] = (0, 1, 2)
    # "converged" by default: equal short schedules make scratch look worse than it is (He et al.
    # 2019, "Rethinking ImageNet Pre-training"); training each arm until its validation accuracy
    # plateaus answers "which is better" rather than "which is faster to fit".
    budget: str = "converged"
    epochs: int = 20
    steps: int = 1000  # budget = "steps": optimizer steps per run
    # budget = "converged" counts optimizer steps, not epochs: at 5 images per class an epoch is 4
    # steps, so a rule in epochs gives the small subsets (and the arm that learns slowly) almost no
    # patience (in docs/validation.md, under a rule in epochs, scratch hit the cap at 20 per class).
    # 500 steps is 125 epochs at 5 per class on digits. None: a spec stored before (minimum =
    # ``epochs``, patience in epochs), read back as it trained.
    min_steps: int | None = 500  # budget = "converged": optimizer steps before a run may stop
    patience: int = 200  # budget = "converged": optimizer steps without a new best validation accuracy
    max_epochs: int = 300  # budget = "converged": the cap (never below what min_steps needs)
    batch_size: int = 64
    image_size: int = 32
    # A resolution sweep (image_size = [32, 96]): one experiment per resolution (``by_resolution``),
    # each of its runs paired across arms as usual, and the same training subsets and seeds at every
    # resolution (splits never depend on it), so resolutions pair too. Empty: one resolution; one
    # item: this spec is one resolution of a sweep.
    image_sizes: tuple[int, ...] = ()
    # Translation only: safe for every dataset (mirrored digits are not digits); flips are opt-in.
    augment: str = "crop"
    optimizer: str = "adamw"
    lr_scratch: float | None = None
    lr_pretrained: float | None = None
    tune: str = "none"  # "lr": a grid of learning rates per arm and size, chosen on validation
    lr_grid: int = 4  # tune = "lr": rates in the grid (over LR_SPAN, centred on the arm's rate)
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
    # A control arm per frozen depth: the same freezing from random init, so "the pretrained
    # features help" is measured (a probe on random features can be surprisingly good).
    random_control: bool = False
    # Time to target: the validation accuracy a run must reach; set before the results exist.
    target_acc: float = 0.8
    validation: str = "within"
    val_fraction: float = 0.1  # validation = "held_out": the share of the dataset held out
    test_fraction: float = 0.2
    split_seed: int = 0
    device: str = "auto"
    name: str = ""
    # What `weights` and an imagefolder:/zip: dataset held when the spec was built (see content_keys):
    # the reuse hash keys on these, not on the paths.
    weights_key: str | None = None
    source_key: str | None = None

    # -- derived values -------------------------------------------------------------------------
    def lr_for(self, arm: str) -> float:
        # The random-features control copies the pretrained arm's recipe: only the init differs.
        recipe = "pretrained" if arm in ("pretrained", "random") else "scratch"
        explicit = self.lr_pretrained if recipe == "pretrained" else self.lr_scratch
        if explicit is not None:
            return explicit
        return DEFAULT_LR[self.optimizer][recipe]

    def lr_rates(self, arm: str) -> tuple[float, ...]:
        """The rates an arm trains at: its own under tune = "none"; under "lr" ``lr_grid`` rates
        log-spaced over LR_SPAN with the arm's rate at the geometric centre, to 2 significant digits."""
        centre = self.lr_for(arm)
        if self.tune not in TUNED:
            return (centre,)
        n = self.lr_grid
        return tuple(float(f"{centre * LR_SPAN ** (k / (n - 1) - 0.5):.2g}") for k in range(n))

    def runs(self) -> list[RunSpec]:
        """Expand into runs, ordered so that each size and seed's pair runs back to back (under
        tune = "lr", each arm's grid of rates one after the other; a resolution sweep, each resolution's
        runs in turn, each run carrying its resolution's spec)."""
        if len(self.image_sizes) > 1:
            return [run for spec in self.by_resolution() for run in spec.runs()]

        def arm(name: str, size: int, seed: int, freeze: int | str | None) -> list[RunSpec]:
            if self.tune not in TUNED:
                return [RunSpec(self, name, size, seed, freeze)]
            return [RunSpec(self, name, size, seed, freeze, lr) for lr in self.lr_rates(name)]

        return self._expand(self.end_sizes, arm)

    @property
    def end_sizes(self) -> tuple[int, ...]:
        """The sizes queued when the experiment is created: all of them, but under tune = "lr-ends" only
        the smallest and the largest (the others wait for their choices: ``held_runs``)."""
        sizes = tuple(self.sizes)
        if self.tune != "lr-ends" or len(set(sizes)) < 3:
            return sizes
        return tuple(s for s in sizes if s in (min(sizes), max(sizes)))

    @property
    def middle_sizes(self) -> tuple[int, ...]:
        """Under tune = "lr-ends", the sizes between the smallest and the largest; () otherwise."""
        ends = set(self.end_sizes)
        return tuple(s for s in self.sizes if s not in ends)

    def held_runs(self, rates: dict[tuple[str, str], dict[int, float]] | None = None) -> list[RunSpec]:
        """The runs of the middle sizes under tune = "lr-ends", one per arm, size and seed, at the rate
        ``rates[(arm, repr(freeze))][size]`` (lr_rates's centre where none is given: what the estimate
        counts before the ends have chosen)."""
        if len(self.image_sizes) > 1:
            return [run for spec in self.by_resolution() for run in spec.held_runs(rates)]
        rates = rates or {}

        def arm(name: str, size: int, seed: int, freeze: int | str | None) -> list[RunSpec]:
            lr = rates.get((name, repr(freeze)), {}).get(size, self.lr_for(name))
            return [RunSpec(self, name, size, seed, freeze, lr)]

        return self._expand(self.middle_sizes, arm)

    def planned_runs(self) -> list[RunSpec]:
        """Every run the experiment will train: ``runs()`` and, under tune = "lr-ends", the held ones."""
        return self.runs() + self.held_runs()

    def _expand(self, sizes, arm) -> list[RunSpec]:
        out = []
        for size in sizes:
            for seed in self.seeds:
                out += arm("scratch", size, seed, None)
                for depth in self.freeze:
                    out += arm("pretrained", size, seed, depth)
                if self.random_control:
                    for d in self.freeze:
                        out += arm("random", size, seed, d) if d != 0 else []
                if self.small_cnn:
                    out += arm("small_cnn", size, seed, None)
        return out

    def by_resolution(self) -> list[ExperimentSpec]:
        """One spec per resolution of a sweep (each names it), or this spec alone."""
        if len(self.image_sizes) < 2:
            return [self]
        # Each keeps its own resolution as a one-item sweep: the faces then name it in the verdict.
        return [replace(self, image_size=size, image_sizes=(size,), name=f"{self.title()} · {size} px")
                for size in self.image_sizes]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("sizes", "freeze", "seeds", "image_sizes"):
            d[key] = list(d[key])
        return d

    def budget_text(self) -> str:
        """The training budget in words, for the verdict, the CLI and the form."""
        if self.budget == "steps":
            return f"{self.steps} optimizer steps per run"
        if self.budget == "converged" and self.min_steps is not None:
            return (f"until validation accuracy stops improving (at least {self.min_steps} optimizer steps, "
                    f"patience {self.patience} steps, at most {self.max_epochs} epochs per run)")
        if self.budget == "converged":
            return (f"until validation accuracy stops improving (patience {self.patience} epochs, "
                    f"at least {self.epochs}, at most {self.max_epochs} epochs per run)")
        return f"{self.epochs} epochs per run"

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
    lr_value: float | None = None  # one rate of a tune = "lr" grid; None: the arm's rate

    @property
    def lr(self) -> float:
        return self.lr_value if self.lr_value is not None else self.experiment.lr_for(self.arm)

    @property
    def head_lr_mult(self) -> float:
        return self.experiment.head_lr_mult if self.arm in ("pretrained", "random") else 1.0

    @property
    def pretrained(self) -> bool:
        return self.arm == "pretrained"

    @property
    def depth(self) -> int | str:
        """The freezing depth applied: only the pretrained arm and its random control freeze."""
        return self.freeze if self.arm in ("pretrained", "random") and self.freeze is not None else 0

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
            "weights": (e.weights_key or e.weights) if self.arm == "pretrained" else None,
            "arm": self.arm, "size": self.size, "seed": self.seed, "freeze": self.freeze,
            "epochs": e.epochs, "batch_size": e.batch_size, "image_size": e.image_size,
            "augment": e.augment, "optimizer": e.optimizer, "lr": self.lr,
            "weight_decay": e.weight_decay, "warmup_epochs": e.warmup_epochs,
            "label_smoothing": e.label_smoothing,
            "head_lr_mult": self.head_lr_mult,
            "min_steps_per_epoch": e.min_steps_per_epoch, "val_fraction": e.val_fraction,
            "test_fraction": e.test_fraction, "split_seed": e.split_seed,
            # Only where it applies, so every other run keeps its hash (and its reusable result).
            **({"feature_cache": e.feature_cache} if self.caches_features else {}),
            # Only when within (the default now), so held-out runs keep their hashes: the rule is
            # "omit when held_out", not "omit when default", or every stored run would lose its match.
            **({"validation": e.validation} if e.validation != "held_out" else {}),
            # The random-features control's BatchNorm statistics come from its training images.
            **({"bn_stats": "train"} if self.arm == "random" else {}),
            # Only for own images, so built-in datasets keep their hashes.
            **({"source_key": e.source_key} if e.source_key else {}),
            **self._budget_config(),
        }

    def _budget_config(self) -> dict[str, Any]:
        # "epochs" was the only budget once: runs under it keep their hashes (no key added).
        e = self.experiment
        if e.budget == "steps":
            return {"budget": "steps", "steps": e.steps, "epochs": None}
        if e.budget == "converged" and e.min_steps is not None:
            # Counted in optimizer steps: ``epochs`` plays no part (as under "steps").
            return {"budget": "converged", "min_steps": e.min_steps, "patience_steps": e.patience,
                    "max_epochs": e.max_epochs, "epochs": None}
        if e.budget == "converged":  # a spec stored before step budgets: patience in epochs
            return {"budget": "converged", "patience": e.patience, "max_epochs": e.max_epochs}
        return {}

    @property
    def caches_features(self) -> bool:
        e = self.experiment
        return e.feature_cache and self.arm in ("pretrained", "random") and self.freeze == "all" and e.augment == "none"

    def config_hash(self) -> str:
        blob = json.dumps(self.config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def label(self) -> str:
        label = run_label(self.arm, self.size, self.seed, self.freeze)
        return f"{label} · lr {self.lr:.2g}" if self.lr_value is not None else label


# -- parsing and validation -------------------------------------------------------------------------
_FIELDS = {f.name for f in fields(ExperimentSpec)}
_FLOATS = ("lr_scratch", "lr_pretrained", "weight_decay", "warmup_epochs", "label_smoothing", "head_lr_mult",
           "val_fraction", "test_fraction", "target_acc")
_BOOLS = ("small_cnn", "feature_cache", "random_control")
_MAX_LIST = 1000  # items in one list setting; more is a typo or a pasted column, never a grid


def _items(value: Any, key: str, problems: list[str]) -> list:
    items = value.split(",") if isinstance(value, str) else list(value) if isinstance(value, list | tuple) else [value]
    if len(items) > _MAX_LIST:
        problems.append(f"{key}: {len(items):,} values given; at most {_MAX_LIST:,}")
        return []
    return items


def _int_list(value: Any, key: str, problems: list[str]) -> tuple[int, ...]:
    out = []
    for item in _items(value, key, problems):
        try:
            if isinstance(item, bool) or (isinstance(item, float) and not item.is_integer()):
                raise ValueError
            out.append(int(str(item).strip()))
        except ValueError:
            problems.append(f"{key}: '{_short(item)}' is not a whole number (example: {key} = [5, 20, 100])")
    return tuple(out)


def _short(item: Any) -> str:
    return printable(str(item), limit=40)


def _freeze_list(value: Any, problems: list[str]) -> tuple[int | str, ...]:
    out: list[int | str] = []
    for item in _items(value, "freeze", problems):
        text = str(item).strip().lower()
        if text == "all":
            out.append("all")
        elif text.isascii() and text.isdigit() and len(text) <= 6 and not isinstance(item, bool | float):
            out.append(int(text))
        else:
            problems.append(f"freeze: '{_short(item)}' is not a depth: use 0 (fine-tune all), a stage count, or 'all' (linear probe)")
    return tuple(out)


def _seeds(value: Any, problems: list[str]) -> tuple[int, ...]:
    # A single number is a count (seeds = 3 means 0, 1, 2); a list names the seeds.
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_SEEDS:
            problems.append(f"seeds: {value} seeds; give a count from 1 to {MAX_SEEDS} or a list of seeds")
            return ()
        return tuple(range(value))
    # isascii: '²' is a digit to isdigit() but not to int()
    if isinstance(value, str) and "," not in value and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 12:
        return _seeds(int(value), problems)
    return _int_list(value, "seeds", problems)


def _float(value: Any, key: str, problems: list[str]) -> float | None:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        problems.append(f"{key}: '{_short(value)}' is not a number")
        return None
    if not math.isfinite(number):
        problems.append(f"{key}: {value} is not a finite number")
        return None
    return number


def build_spec(values: dict[str, Any], facts=None, pools_pending: bool = False) -> ExperimentSpec:
    """Validate loose values (from TOML, CLI flags or a form) into a spec; every problem is listed.

    Depths are checked against the model's stages and sizes against the dataset's training pools
    (``facts``: pools the caller has measured already, see data/facts.py), so an impossible value
    is refused here, before anything is stored, never inside a run. Paths are made absolute and
    the content keys of the files they name are computed, so the spec means the same thing to a
    worker started in another folder, and reuse follows content. A stored spec is read back with
    ``spec_from_dict``, never built again. ``pools_pending``: the caller is still measuring the
    pools in the background (the form, which keeps Start disabled until they are in and then builds
    the spec again with them), so the data is not read here: reading it would hold the page.
    """
    problems: list[str] = []
    clean: dict[str, Any] = {}
    for key, value in values.items():
        key = key.replace("-", "_")
        if key in DERIVED:
            continue  # recomputed below from the files themselves
        if value is None and key not in ("weights", "data_root", "lr_scratch", "lr_pretrained", *DERIVED):
            continue
        if key not in _FIELDS:
            problems.append(f"unknown setting '{_short(key)}'")
            continue
        clean[key] = value

    if "sizes" in clean:
        clean["sizes"] = _int_list(clean["sizes"], "sizes", problems)
    if "freeze" in clean:
        clean["freeze"] = _freeze_list(clean["freeze"], problems)
    if "seeds" in clean:
        clean["seeds"] = _seeds(clean["seeds"], problems)
    defaults = ExperimentSpec()
    if "image_size" in clean:
        resolutions = tuple(sorted(set(_int_list(clean["image_size"], "image_size", problems))))
        if len(resolutions) > 1:  # a sweep: the spec itself carries the first, by_resolution the rest
            clean["image_sizes"], clean["image_size"] = resolutions, resolutions[0]
        elif resolutions:
            clean["image_size"] = resolutions[0]
        else:
            clean.pop("image_size")
            if not any(p.startswith("image_size") for p in problems):
                problems.append("image_size: give at least one resolution in pixels (e.g. 32, or [32, 96])")
    for key in ("epochs", "batch_size", "split_seed", "min_steps_per_epoch", "steps", "patience", "max_epochs",
                "min_steps", "lr_grid"):
        if key in clean:
            ints = _int_list(clean[key], key, problems)
            if len(ints) == 1:
                clean[key] = ints[0]
            else:
                clean.pop(key)
                if ints:
                    problems.append(f"{key}: give one whole number, not a list")
    for key in _FLOATS:
        if clean.get(key) is not None:
            number = _float(clean[key], key, problems)
            if number is None:
                clean.pop(key)
            else:
                clean[key] = number
    for key in _BOOLS:
        # Strictly true or false: a TOML string such as "ture" must not quietly read as false.
        if key in clean and not isinstance(clean[key], bool):
            problems.append(f"{key}: '{_short(clean[key])}' must be true or false (a TOML boolean, no quotes)")
            clean.pop(key)
    for key in ("dataset", "model", "augment", "optimizer", "device", "name", "weights", "data_root", "budget",
                "validation", "tune"):
        if clean.get(key) is not None:
            if not isinstance(clean[key], str):
                problems.append(f"{key}: '{_short(clean[key])}' must be text")
                clean.pop(key)
            else:
                clean[key] = clean[key].strip()
    if "dataset" in clean:
        from tlcompare.data.sources import canonical_source

        clean["dataset"] = canonical_source(clean["dataset"])  # a worker started elsewhere finds the same path
    from tlcompare.content_keys import resolve_path

    for key in ("weights", "data_root"):
        if clean.get(key):
            clean[key] = resolve_path(clean[key])
    # Keep going after parse problems, so the user sees every invalid value at once.
    spec = replace(defaults, **clean)
    already = {p.split(":")[0] for p in problems}
    problems += [p for p in validate(spec) if p.split(":")[0] not in already]
    if problems:
        raise SpecError(problems[:50])
    # Sorted, de-duplicated grids make the run order and the charts predictable.
    spec = replace(
        spec,
        sizes=tuple(sorted(set(spec.sizes))),
        seeds=tuple(sorted(set(spec.seeds))),
        freeze=tuple(sorted(set(spec.freeze), key=depth_order)),
    )
    if pools_pending:
        return _with_content_keys(spec)
    from tlcompare.data.facts import pool_problem

    problem = pool_problem(spec, facts)
    if problem:
        raise SpecError([problem])
    return _with_content_keys(spec)


def _with_content_keys(spec: ExperimentSpec) -> ExperimentSpec:
    from tlcompare.content_keys import file_sha256, source_key

    try:
        return replace(spec, weights_key=("sha256:" + file_sha256(spec.weights)) if spec.weights else None,
                       source_key=source_key(spec.dataset))
    except UserError as e:
        raise SpecError([str(e)]) from None


def validate(spec: ExperimentSpec) -> list[str]:
    """Return one line per invalid value (empty when the spec is valid)."""
    from tlcompare.data import check_source

    p: list[str] = []
    dataset_problem = check_source(spec.dataset)
    if dataset_problem:
        p.append(f"dataset: {dataset_problem}")
    # The torch-free table of stages (a test checks it against the model registry): validating a
    # spec never imports torch nor builds a model.
    if spec.model not in STAGE_SHAPES or spec.model == "small_cnn":
        choices = ", ".join(n for n in STAGE_SHAPES if n != "small_cnn")
        p.append(f"model: unknown '{_short(spec.model)}'; choose one of {choices} (small_cnn is the optional third arm: small_cnn = true)")
    else:
        p += _depth_problems(spec.freeze, spec.model)
    if not spec.sizes:
        p.append("sizes: give at least one training-set size (examples per class)")
    p += [f"sizes: {s} must be at least 1 example per class" for s in spec.sizes if s < 1]
    p += [f"sizes: {s:,} examples per class is over the limit of {MAX_SIZE:,}" for s in spec.sizes if s > MAX_SIZE]
    if not spec.seeds:
        p.append("seeds: give at least one seed")
    if len(set(spec.seeds)) > MAX_SEEDS:
        p.append(f"seeds: {len(set(spec.seeds)):,} seeds; at most {MAX_SEEDS}")
    p += [f"seeds: {s} must be between 0 and {MAX_SEED_VALUE}" for s in spec.seeds if not 0 <= s <= MAX_SEED_VALUE]
    if not spec.freeze:
        p.append("freeze: give at least one freezing depth (0 = fine-tune everything, 'all' = linear probe)")
    arms = 1 + len(set(spec.freeze)) + int(spec.small_cnn) + (len(set(spec.freeze) - {0}) if spec.random_control else 0)
    if spec.tune not in TUNES:
        p.append(f"tune: unknown '{_short(spec.tune)}'; choose none, lr (a grid of learning rates per arm and size, "
                 "chosen on validation) or lr-ends (the grid at the smallest and largest size only)")
    if not 2 <= spec.lr_grid <= MAX_LR_GRID:
        p.append(f"lr_grid: {spec.lr_grid} rates; use 2 to {MAX_LR_GRID} (default 4, over {LR_SPAN:g}x)")
    grid = spec.lr_grid if spec.tune in TUNED and 2 <= spec.lr_grid <= MAX_LR_GRID else 1
    sizes, gridded = set(spec.sizes), set(spec.end_sizes)
    n_runs = (len(gridded) * grid + len(sizes - gridded)) * len(set(spec.seeds)) * arms * max(1, len(spec.image_sizes))
    if n_runs > MAX_RUNS:
        p.append(f"sizes: {n_runs:,} runs in one experiment (sizes x seeds x arms{' x rates' if grid > 1 else ''}); "
                 f"at most {MAX_RUNS:,}: use fewer sizes, seeds or freezing depths")
    if spec.epochs < 1 or spec.epochs > MAX_EPOCHS:
        p.append(f"epochs: {spec.epochs} must be between 1 and {MAX_EPOCHS}")
    p += _budget_problems(spec)
    if spec.batch_size < 1 or spec.batch_size > 65_536:
        p.append(f"batch_size: {spec.batch_size} must be between 1 and 65536")
    for size in spec.image_sizes or (spec.image_size,):
        if size < 8 or size > 1024:
            p.append(f"image_size: {size} must be between 8 and 1024 pixels")
    if len(spec.image_sizes) > MAX_RESOLUTIONS:
        p.append(f"image_size: {len(spec.image_sizes)} resolutions; at most {MAX_RESOLUTIONS} in one sweep")
    if spec.augment not in AUGMENTS:
        p.append(f"augment: unknown '{_short(spec.augment)}'; choose one of {', '.join(AUGMENTS)}")
    if spec.optimizer not in OPTIMIZERS:
        p.append(f"optimizer: unknown '{_short(spec.optimizer)}'; choose one of {', '.join(OPTIMIZERS)}")
    for key in ("lr_scratch", "lr_pretrained"):
        value = getattr(spec, key)
        if value is not None and not (0 < value < 100):
            p.append(f"{key}: {value} must be a positive learning rate (e.g. 1e-3)")
    if not 0 <= spec.weight_decay <= MAX_WEIGHT_DECAY:
        p.append(f"weight_decay: {spec.weight_decay:g} would shrink the weights faster than training moves them; "
                 f"use 0 to {MAX_WEIGHT_DECAY:g} (common: 0.05 with AdamW, 5e-4 with SGD)")
    if not 0 <= spec.warmup_epochs <= MAX_EPOCHS:
        p.append(f"warmup_epochs: {spec.warmup_epochs} must be between 0 and {MAX_EPOCHS}")
    elif spec.budget == "epochs" and spec.warmup_epochs > spec.epochs >= 1:
        p.append(f"warmup_epochs: {spec.warmup_epochs:g} warm-up epochs with {spec.epochs} epochs: the learning rate "
                 "would still be rising when training ends; use at most as many warm-up epochs as epochs (default 1)")
    if not 0 <= spec.label_smoothing <= MAX_LABEL_SMOOTHING:
        p.append(f"label_smoothing: {spec.label_smoothing:g} leaves the true class barely ahead of the others in the "
                 f"training targets; use 0 to {MAX_LABEL_SMOOTHING:g} (common: 0 to 0.1)")
    if not 0 < spec.head_lr_mult <= 1000:
        p.append(f"head_lr_mult: {spec.head_lr_mult} must be between 0 and 1000")
    if not 1 <= spec.min_steps_per_epoch <= 1000:
        p.append(f"min_steps_per_epoch: {spec.min_steps_per_epoch} must be between 1 and 1000")
    if spec.validation not in VALIDATIONS:
        p.append(f"validation: unknown '{_short(spec.validation)}'; choose held_out (a validation set split off the "
                 "dataset) or within (a fifth of the N labelled images per class)")
    elif spec.validation == "within" and any(s < 2 for s in spec.sizes if s >= 1):
        p.append("sizes: 1 image per class leaves none to train on under validation = within (the default: "
                 "it validates); use sizes of at least 2, or validation = held_out (a validation set split off "
                 "the dataset)")
    if not 0 < spec.val_fraction < 0.5:
        p.append(f"val_fraction: {spec.val_fraction} must be between 0 and 0.5")
    if not 0 < spec.test_fraction < 0.5:
        p.append(f"test_fraction: {spec.test_fraction} must be between 0 and 0.5")
    if not 0 <= spec.split_seed <= MAX_SEED_VALUE:
        p.append(f"split_seed: {spec.split_seed} must be between 0 and {MAX_SEED_VALUE}")
    if len(spec.name) > MAX_NAME:
        p.append(f"name: {len(spec.name):,} characters; at most {MAX_NAME}")
    if not re.fullmatch(r"auto|cpu|cuda(:[0-9]{1,3})?", spec.device):
        p.append(f"device: unknown '{_short(spec.device)}'; use auto, cpu, cuda or cuda:N")
    # A torchvision set downloads into a new data root; any other dataset reads one that exists.
    if spec.data_root is not None and not spec.dataset.startswith("torchvision:") and not Path(spec.data_root).is_dir():
        p.append(f"data_root: '{_short(spec.data_root)}' does not exist or is not a folder")
    if spec.weights is not None and not Path(spec.weights).expanduser().is_file():
        p.append(f"weights: checkpoint file '{_short(spec.weights)}' does not exist or is not a file")
    return p


def doubts(spec: ExperimentSpec) -> list[str]:
    """One line per value that is valid but almost never what was meant, with the reason.

    The CLI prints them as warnings; the form asks for a confirmation before it starts.
    """
    d: list[str] = []
    for arm, key in (("scratch", "lr_scratch"), ("pretrained", "lr_pretrained")):
        lr, limit = spec.lr_for(arm), DOUBTFUL_LR.get(spec.optimizer, 1.0)
        if lr > limit:
            d.append(f"{key}: {lr:g} is far above what {spec.optimizer} trains with (above {limit:g} runs usually "
                     f"diverge{' and wreck the pretrained weights' if arm == 'pretrained' else ''}); "
                     f"the default is {DEFAULT_LR.get(spec.optimizer, DEFAULT_LR['adamw'])[arm]:g}")
    wd_limit = DOUBTFUL_WEIGHT_DECAY.get(spec.optimizer, 0.3)
    if wd_limit < spec.weight_decay <= MAX_WEIGHT_DECAY:
        d.append(f"weight_decay: {spec.weight_decay:g} is strong for {spec.optimizer} (above {wd_limit:g}); "
                 "the model may stay underfit")
    if DOUBTFUL_LABEL_SMOOTHING < spec.label_smoothing <= MAX_LABEL_SMOOTHING:
        d.append(f"label_smoothing: {spec.label_smoothing:g} is high (common: 0 to 0.1); accuracy may suffer")
    if spec.budget == "epochs" and spec.epochs >= 4 and spec.epochs / 2 <= spec.warmup_epochs <= spec.epochs:
        d.append(f"warmup_epochs: {spec.warmup_epochs:g} of {spec.epochs} epochs are warm-up; the full learning rate "
                 "is reached late, if at all")
    return d


def resolution_notes(spec: ExperimentSpec, how: str = "image_size = [32, 96]") -> list[str]:
    """Valid settings a reader of the results must know of (the CLI prints them, the form shows them;
    nothing to confirm): ImageNet weights at a resolution far below their training resolution.
    ``how``: how to add a resolution, in the words of where the note is shown."""
    low = [size for size in (spec.image_sizes or (spec.image_size,)) if size < LOW_RESOLUTION]
    if not low or spec.weights is not None or spec.model not in STAGE_SHAPES:
        return []
    sizes = " and ".join(f"{s} px" for s in low)
    return [f"image_size: at {sizes} the ImageNet-pretrained features are far from their training resolution "
            f"(224 px): the last feature maps shrink to a pixel or two and many pretrained features are constant, so "
            f"the comparison may show the resolution more than the pretraining; add a resolution of {LOW_RESOLUTION} px "
            f"or more ({how}) to see it"]


def _depth_problems(depths, model: str) -> list[str]:
    """Depths deeper than the model's stages fail here, when the spec is built, not inside a run."""
    n = stage_count(model)
    return [f"freeze: depth {d} is deeper than {model}'s {n} stages; use 0 (fine-tune everything) to {n}, "
            "or 'all' (linear probe)" for d in depths if isinstance(d, int) and d > n]


def _budget_problems(spec: ExperimentSpec) -> list[str]:
    p = []
    if spec.budget not in BUDGETS:
        p.append(f"budget: unknown '{_short(spec.budget)}'; choose one of {', '.join(BUDGETS)}")
    if not 1 <= spec.steps <= MAX_STEPS:
        p.append(f"steps: {spec.steps} must be between 1 and {MAX_STEPS} optimizer steps per run")
    if not 1 <= spec.patience <= MAX_STEPS:
        p.append(f"patience: {spec.patience} must be between 1 and {MAX_STEPS} optimizer steps "
                 "(budget converged: steps without a new best validation accuracy)")
    if spec.min_steps is not None and not 0 <= spec.min_steps <= MAX_STEPS:
        p.append(f"min_steps: {spec.min_steps} must be between 0 and {MAX_STEPS} optimizer steps")
    if not 1 <= spec.max_epochs <= MAX_EPOCHS:
        p.append(f"max_epochs: {spec.max_epochs} must be between 1 and {MAX_EPOCHS}")
    if not 0 < spec.target_acc <= 1:
        p.append(f"target_acc: {spec.target_acc} must be a validation accuracy in (0, 1] (e.g. 0.8)")
    return p


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read an experiment file whose keys mirror the CLI flags (image_size = 32, sizes = [5, 20])."""
    path = Path(path)
    shown = printable(str(path))
    # Only a regular file of reasonable size: a FIFO would block forever, a device never end.
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UserError(f"experiment file '{shown}' does not exist") from None
    except OSError as e:
        raise UserError(f"cannot read experiment file '{shown}': {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise UserError(f"experiment file '{shown}' is a folder; give the path of a .toml file")
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"experiment file '{shown}' is not a regular file (a pipe or device); give a .toml file")
    if st.st_size > MAX_CONFIG_BYTES:
        raise UserError(f"experiment file '{shown}' is {st.st_size:,} bytes; an experiment file is at most "
                        f"{MAX_CONFIG_BYTES:,} bytes")
    try:
        with path.open("rb") as f:
            data = tomllib.loads(f.read(MAX_CONFIG_BYTES + 1).decode("utf-8-sig"))  # a BOM is not a statement
    except RecursionError:
        raise UserError(f"experiment file '{shown}' nests arrays or tables too deeply to be an experiment") from None
    except UnicodeDecodeError:
        raise UserError(f"experiment file '{shown}' is not text (not UTF-8): give a TOML file") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"experiment file '{shown}' is not valid TOML: {e}") from None
    except OSError as e:
        raise UserError(f"cannot read experiment file '{shown}': {e.strerror or e}") from None
    # Allow the settings at top level or under an [experiment] table.
    if "experiment" in data and isinstance(data["experiment"], dict):
        data = {**{k: v for k, v in data.items() if k != "experiment"}, **data["experiment"]}
    return data


def spec_from_dict(d: dict[str, Any]) -> ExperimentSpec:
    """The spec stored as ``to_dict()`` JSON, typed back as it was built: not parsed nor validated
    again (that happened once, when it was built), so a worker trains exactly what was stored.

    A spec stored before budgets existed trained under equal epochs, and one stored before
    ``within`` became the default validated on a held-out set, whatever today's defaults;
    settings a later version dropped are left out (the run's config hash says whether the run
    still means the same).
    """
    values = {"budget": "epochs", "validation": "held_out", **{k: v for k, v in d.items() if k in _FIELDS}}
    if "min_steps" not in d:  # stored before converged counted steps: its patience is in epochs
        values["min_steps"] = None
    for key in ("sizes", "freeze", "seeds", "image_sizes"):
        if key in values:
            values[key] = tuple(values[key])
    return ExperimentSpec(**values)
