"""What one run returns: its settings as trained, every epoch's metrics and the reported model's evaluation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class RunResult:
    arm: str
    size: int
    seed: int
    freeze: int | str | None
    model: str
    config_hash: str
    status: str  # done | diverged | cancelled
    device: str
    trainable_params: int
    total_params: int
    frozen_stages: list[str]
    pretrained_source: str | None
    lr: float
    n_train: int
    subset_hash: str  # fingerprint of the training images: equal across the arms of a pair
    batch_size: int
    epochs: list[dict] = field(default_factory=list)
    final: dict = field(default_factory=dict)
    confusion: list[list[int]] = field(default_factory=list)
    per_class_acc: list[float] = field(default_factory=list)
    misclassified: list[dict] = field(default_factory=list)  # a sample of test images this run gets wrong
    # Which test images the final model gets right (correct_bits.pack_correct), for tests over test images.
    test_correct: str | None = None
    error: str | None = None
    oom_retries: int = 0  # restarts at half the batch after running out of GPU memory; batch_size is the last
    # "computed" or "reused" when this linear probe trained its head on cached frozen features
    # (their computing time is in the first epoch's train_seconds of the run that computed them).
    feature_cache: str | None = None
    head_lr: float | None = None  # the new head's peak rate (lr x head_lr_mult for pretrained-recipe arms)
    # What the budget gave this run: "epochs", "steps", "converged"; how far it went and why it stopped
    # (epochs / steps: the budget was spent; plateau / cap under converged; diverged; cancelled).
    budget: str | None = None
    steps_done: int = 0
    epochs_done: int = 0
    stop_reason: str | None = None
    # Where it ran, kept with the run (a reused run keeps its own): timing compares only like with like.
    machine: str | None = None
    threads: int | None = None
    # How the threads were chosen (threads.ThreadChoice: count, OpenMP wait policy, cores others kept busy).
    thread_choice: dict | None = None
    # The validation images this run chose its model by: "held_out" (the experiment's shared
    # validation set) or "within" (a fifth of its own labelled images), and how many.
    validation: str | None = None
    n_val: int | None = None
    image_size: int | None = None  # the training resolution in pixels (a sweep has several)

    def to_dict(self) -> dict:
        return asdict(self)
