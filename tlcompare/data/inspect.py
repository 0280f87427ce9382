"""The dataset check before training: is this data usable for the sizes asked, and what is odd in it?

``inspect_source`` decodes the source the way training will (so the cache is warm afterwards) and
returns a plain report: images per class and how many are left for training once the validation
and test images are held out, the spread of original image sizes, files that appear under more
than one class, unreadable files with the reason, classes too small for the sizes asked, and the
imbalance between classes. ``render_text`` is the ``tlcompare inspect`` output; the dashboard
shows the same report through its own widgets.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch

from tlcompare.data.base import ImageDataset
from tlcompare.data.splits import holdout_problem, make_splits
from tlcompare.errors import UserError
from tlcompare.text.escape import printable

IMBALANCE_WARNING = 10.0  # largest class / smallest class
FEW_IMAGES = 10  # below this a class's validation and test sets are one image each
FAR_FROM_SQUARE = 1.5  # aspect ratio beyond which the centre crop cuts off much of the image
SHOWN = 20  # items listed per section; the rest are counted


@dataclass
class DatasetReport:
    source: str
    title: str
    class_names: list[str]
    counts: list[int]  # images per class (training images when there is an official test split)
    train_counts: list[int]  # per class, left for training after validation and test are held out
    test_counts: list[int] | None  # the official test split, when the source has one
    stored: str  # how the images are kept, e.g. "256x256 RGB (centre crop)"
    sizes: list[int] = field(default_factory=list)
    size_spread: dict | None = None  # min / median / max of original widths and heights
    far_from_square: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    empty_classes: list[str] = field(default_factory=list)
    duplicates_across_classes: list[list[tuple[str, str]]] = field(default_factory=list)  # groups of (class, file)
    duplicate_copies: int = 0  # extra copies of a file within its own class
    small_classes: list[tuple[str, int]] = field(default_factory=list)  # (class, training images) below max(sizes)
    imbalance: float = 1.0
    problems: list[str] = field(default_factory=list)  # any of these makes the data unusable as asked
    warnings: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.problems

    @property
    def max_size(self) -> int:
        """The largest training-set size per class that every class can provide."""
        return min(self.train_counts) if self.train_counts else 0

    def class_rows(self) -> list[dict]:
        """One row per class, for a table widget (which renders names as plain text)."""
        rows = [{"class": printable(name, None), "images": n, "for training": t}
                for name, n, t in zip(self.class_names, self.counts, self.train_counts, strict=True)]
        for row, n in zip(rows, self.test_counts or [], strict=False):
            row["official test"] = n
        return rows

    def to_dict(self) -> dict:
        return {**asdict(self), "usable": self.usable, "max_size": self.max_size}


def inspect_source(source: str, sizes: Sequence[int] = (), data_root: str | None = None, image_size: int | None = None,
                   strict: bool = False, val_fraction: float = 0.1, test_fraction: float = 0.2, split_seed: int = 0,
                   progress: Callable[[int, int], None] | None = None) -> DatasetReport:
    """Load ``source`` (decoding and caching it) and check it; raises UserError when it cannot be loaded at all."""
    from tlcompare.data import check_source, load_dataset

    problem = check_source(source)
    if problem:
        raise UserError(problem)
    ds = load_dataset(source, data_root, image_size=image_size, progress=progress)
    return check_dataset(ds, source, sizes, strict, val_fraction, test_fraction, split_seed)


def check_dataset(ds: ImageDataset, source: str, sizes: Sequence[int] = (), strict: bool = False,
                  val_fraction: float = 0.1, test_fraction: float = 0.2, split_seed: int = 0) -> DatasetReport:
    counts = torch.bincount(ds.labels, minlength=ds.num_classes).tolist()
    splits = make_splits(ds, val_fraction, test_fraction, split_seed)
    test_counts = None if ds.test_labels is None else torch.bincount(ds.test_labels, minlength=ds.num_classes).tolist()
    extra = ds.extra
    channels = "gray" if ds.channels == 1 else "RGB"
    fit = f" ({extra['fit']})" if extra.get("fit") else ""
    r = DatasetReport(
        source=source, title=ds.name, class_names=list(ds.class_names), counts=counts,
        train_counts=splits.pool_counts(), test_counts=test_counts,
        stored=f"{ds.image_hw[1]}x{ds.image_hw[0]} {channels}{fit}", sizes=sorted(set(sizes)),
        unreadable=[tuple(u) for u in extra.get("unreadable", [])],
        skipped=[tuple(s) for s in extra.get("skipped", [])],
        ignored=list(extra.get("ignored", [])), empty_classes=list(extra.get("empty_classes", [])),
    )
    _image_sizes(r, extra.get("orig_sizes"))
    _duplicates(r, ds, extra.get("sha256"), extra.get("files"))
    _balance(r)
    holdout = holdout_problem(splits)
    if holdout:
        r.problems.append(holdout)
    _sizes(r)
    if r.unreadable:
        r.warnings.append(f"{_count(len(r.unreadable), 'unreadable file is', 'unreadable files are')} skipped")
        if strict:
            r.problems.append(f"{len(r.unreadable)} unreadable files (--strict stops on any): "
                              f"first {printable(r.unreadable[0][0])}: {r.unreadable[0][1]}")
    if r.empty_classes:
        r.warnings.append("classes without a readable image are left out: " + _names(r.empty_classes))
    return r


# -- the checks --------------------------------------------------------------------------------------
def _image_sizes(r: DatasetReport, orig_sizes: list | None) -> None:
    if not orig_sizes:
        return
    widths = [w for w, _ in orig_sizes]
    heights = [h for _, h in orig_sizes]
    r.size_spread = {"width": _spread(widths), "height": _spread(heights)}
    r.far_from_square = sum(1 for w, h in orig_sizes if max(w, h) > FAR_FROM_SQUARE * max(1, min(w, h)))
    if r.far_from_square:
        r.warnings.append(f"{_count(r.far_from_square, 'image is', 'images are')} far from square (over {FAR_FROM_SQUARE}:1): "
                          "the centre crop cuts off their edges")


def _spread(values: list[int]) -> dict:
    return {"min": min(values), "median": int(statistics.median(values)), "max": max(values)}


def _duplicates(r: DatasetReport, ds: ImageDataset, hashes: list | None, files: list | None) -> None:
    if not hashes or not files:
        return
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for label, digest, path in zip(ds.labels.tolist(), hashes, files, strict=True):
        groups[digest].append((label, path))
    for members in groups.values():
        labels = {label for label, _ in members}
        r.duplicate_copies += len(members) - len(labels)
        if len(labels) > 1:
            r.duplicates_across_classes.append([(ds.class_names[label], path) for label, path in members])
    if r.duplicates_across_classes:
        r.warnings.append(f"{_count(len(r.duplicates_across_classes), 'file appears', 'files appear')} under more than one class "
                          "(the same bytes with different labels)")
    if r.duplicate_copies:
        r.warnings.append(f"{_count(r.duplicate_copies, 'exact duplicate file', 'exact duplicate files')} within their class: a copy can land in "
                          "training and another in the test set, flattering the accuracy")


def _balance(r: DatasetReport) -> None:
    nonzero = [c for c in r.counts if c]
    if not nonzero:
        return
    r.imbalance = max(nonzero) / min(nonzero)
    if r.imbalance >= IMBALANCE_WARNING:
        big = r.class_names[r.counts.index(max(nonzero))]
        small = r.class_names[r.counts.index(min(nonzero))]
        r.warnings.append(f"heavy imbalance: '{printable(big)}' has {r.imbalance:.0f}x the images of "
                          f"'{printable(small)}'; every run draws the same number per class, so sizes stop at "
                          f"{r.max_size}, and balanced accuracy is the fairer score")
    few = [name for name, n in zip(r.class_names, r.counts, strict=True) if n < FEW_IMAGES]
    if few:
        r.warnings.append(f"classes with fewer than {FEW_IMAGES} images (one validation and one test image "
                          f"each, so their scores are coarse): {_names(few)}")


def _sizes(r: DatasetReport) -> None:
    if not r.sizes:
        return
    biggest = max(r.sizes)
    r.small_classes = [(name, n) for name, n in zip(r.class_names, r.train_counts, strict=True) if n < biggest]
    if r.small_classes:
        name, n = min(r.small_classes, key=lambda t: t[1])
        others = f" ({len(r.small_classes) - 1} other classes are also too small)" if len(r.small_classes) > 1 else ""
        r.problems.append(f"size {biggest} per class is more than class '{printable(name)}' has for training: {n} "
                          f"images after holding out validation and test images{others}; use sizes up to {r.max_size}")


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _names(names: list[str]) -> str:
    shown = ", ".join(f"'{printable(n)}'" for n in names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


# -- text output -------------------------------------------------------------------------------------
def render_text(r: DatasetReport) -> str:
    """The report as ``tlcompare inspect`` prints it; every name from the data is escaped."""
    lines = [f"{printable(r.source)}: {sum(r.counts):,} images in {len(r.class_names)} classes, stored {r.stored}"]
    width = max([5] + [len(printable(n, 40)) + 2 for n in r.class_names])
    test_head = "  official test" if r.test_counts else ""
    lines.append(f"  {'class':<{width}}  {'images':>7}  {'for training':>12}{test_head}")
    biggest = max(r.sizes) if r.sizes else 0
    for i, (name, n, t) in enumerate(zip(r.class_names, r.counts, r.train_counts, strict=True)):
        test = f"  {r.test_counts[i]:>13}" if r.test_counts else ""
        note = f"  too few for size {biggest}" if t < biggest else ""
        lines.append(f"  {repr_name(name):<{width}}  {n:>7}  {t:>12}{test}{note}")
    if r.size_spread:
        w, h = r.size_spread["width"], r.size_spread["height"]
        lines.append(f"original sizes: {_range(w)} px wide, {_range(h)} px high")
    _section(lines, f"unreadable, skipped ({len(r.unreadable)})", [f"{printable(p)}: {why}" for p, why in r.unreadable])
    _section(lines, f"not images, skipped ({len(r.skipped)})", [f"{printable(p)}: {why}" for p, why in r.skipped])
    if r.ignored:
        lines.append(f"ignored {len(r.ignored)} hidden or system files: "
                     + ", ".join(printable(p, 60) for p in r.ignored[:5]) + (", ..." if len(r.ignored) > 5 else ""))
    _section(lines, f"the same file under more than one class ({len(r.duplicates_across_classes)})",
             [" = ".join(f"{repr_name(c)}: {printable(p)}" for c, p in group) for group in r.duplicates_across_classes])
    for w in r.warnings:
        lines.append(f"warning: {w}")
    if r.usable:
        # Under validation = within (the default) one of the N validates: 1 per class leaves none to train.
        only_held = " (1 per class only under validation = held_out: within needs 2)" if r.max_size == 1 else ""
        lines.append(f"usable: training-set sizes up to {r.max_size} per class{only_held}")
    else:
        lines += [f"not usable: {p}" for p in r.problems]
    return "\n".join(lines)


def _range(spread: dict) -> str:
    if spread["min"] == spread["max"]:
        return str(spread["min"])
    return f"{spread['min']}-{spread['max']} (median {spread['median']})"


def repr_name(name: str) -> str:
    return f"'{printable(name, 40)}'"


def _section(lines: list[str], title: str, items: list[str]) -> None:
    if not items:
        return
    lines.append(title + ":")
    lines += [f"  {item}" for item in items[:SHOWN]]
    if len(items) > SHOWN:
        lines.append(f"  ... and {len(items) - SHOWN} more")


def inspect_command(source: str, sizes: str | None = None, strict: bool = False, data_root: str | None = None,
                    image_size: int | None = None, as_json: bool = False) -> int:
    """``tlcompare inspect``: print the report; raise UserError (exit 2) when the data is not usable as asked."""
    report = inspect_source(source, _parse_sizes(sizes), data_root=data_root, image_size=image_size, strict=strict)
    print(json.dumps(report.to_dict(), indent=1, ensure_ascii=True) if as_json else render_text(report))
    if not report.usable:
        raise UserError(report.problems[0])
    return 0


def _parse_sizes(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--sizes: '{printable(text)}' is not a comma-separated list of whole numbers (example: 5,20,100)") from None
    if any(s < 1 for s in sizes):
        raise UserError("--sizes: every size must be at least 1 image per class")
    return sizes
