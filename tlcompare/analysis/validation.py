"""Where the images that chose each run's model came from, said beside N: plain Python, no torch.

Every run picks its reported epoch (and, tuned, its learning rate) on validation images. Under
``held_out`` those are a share of the whole dataset, which at small N can outnumber the training
images: a choice no user with N labelled images could make. Under ``within`` they are a fifth of
the N labelled images per class. The line says which, with the counts, and warns in the first case.
"""

from __future__ import annotations

from tlcompare.spec import within_val_count


def _per_size(runs: list[dict]) -> dict[int, int]:
    """Training images of the finished runs per size (the largest when runs differ)."""
    out: dict[int, int] = {}
    for r in runs:
        if r.get("status") == "done" and r.get("n_train"):
            out[int(r["size"])] = max(out.get(int(r["size"]), 0), int(r["n_train"]))
    return dict(sorted(out.items()))


def plan_line(validation: str, sizes, num_classes: int | None = None, n_val: int | None = None) -> str:
    """Before any run: where the validation images will come from, per size ('Validation within the
    labelled images: per class, 1 of 5 and 4 of 20 validate; the rest train.'). Under held_out with the
    dataset's facts, the sizes whose training set the held-out set outnumbers."""
    if validation == "within":
        parts = " and ".join(f"{within_val_count(n)} of {n}" for n in sorted(sizes))
        return f"Validation within the labelled images: per class, {parts} validate; the rest train."
    text = f"Validation on a held-out set{f' of {n_val} images' if n_val else ''}, shared by every run"
    outnumbered = [n for n in sorted(sizes) if n_val and num_classes and n * num_classes < n_val]
    if not outnumbered:
        return text + "."
    return (f"{text}: more images than the training set at {', '.join(f'{n}/class' for n in outnumbered)}, "
            "which a user with that few labelled images would not have.")


def validation_line(runs: list[dict], spec: dict, environment: dict) -> str:
    """One line: the validation images beside N, and when a held-out set outnumbers a training set."""
    train = _per_size(runs)
    if not train:
        return ""
    if spec.get("validation") == "within":
        parts = [f"{within_val_count(n)} of the {n} labelled per class validate at {n}/class" for n in train]
        return ("Validation: within the labelled images (20 %, at least 1 per class; the rest train): "
                + "; ".join(parts) + ".")
    n_val = environment.get("n_val") or max((r.get("n_val") or 0 for r in runs), default=0)
    if not n_val:
        return ""
    outnumbered = [n for n, t in train.items() if n_val > t]
    text = f"Validation: a held-out set of {n_val} images, shared by every run"
    if not outnumbered:
        return text + "."
    sizes = ", ".join(f"{n}/class ({train[n]} training images)" for n in outnumbered)
    return (f"{text}; it outnumbers the training set at {sizes}: a user with that few labelled images would not "
            "have it. validation = \"within\" chooses on a fifth of the labelled images instead.")
