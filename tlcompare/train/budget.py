"""How long a run trains, and the learning-rate schedule that goes with it.

Three budgets, each the same rule for every arm of a pair:

- ``epochs``: ``spec.epochs`` passes over the training subset; warm-up then cosine to zero.
- ``steps``: ``spec.steps`` optimizer steps whatever the subset size (the last epoch may be
  partial); warm-up then cosine over those steps.
- ``converged``: at least ``spec.min_steps`` optimizer steps, then on until validation accuracy
  stops improving. Warm-up, then a constant rate; after ``patience`` optimizer steps without a new
  best the rate drops tenfold once (the classic "divide by 10 on a plateau"), and after another
  ``patience`` steps without one the run stops (``plateau``), or at ``max_epochs`` (``cap``; never
  before the minimum). The run reports the model of its best validation epoch (early stopping with
  the best weights restored): the selection uses validation images only, never the test set.
  Validation is measured once per epoch, so a rule is checked at the end of an epoch: the first
  epoch end at or past the step count.

  Counted in steps, not epochs: at 5 images per class an epoch is 4 steps, and a patience of 10
  epochs (the rule before) gave a slow learner 40 steps to show progress, while a large subset got
  hundreds. A spec stored before (``min_steps`` None) keeps its rule in epochs: ``spec.epochs`` the
  minimum, ``patience`` epochs.
"""

from __future__ import annotations

import math

PLATEAU_DECAY = 0.1


class Budget:
    def __init__(self, spec, steps_per_epoch: int):
        self.kind = spec.budget
        self.steps_per_epoch = steps_per_epoch
        min_steps = getattr(spec, "min_steps", None)
        # The stop rule counts in this unit: optimizer steps (or, for a spec stored before, epochs).
        self._unit = steps_per_epoch if min_steps is not None else 1
        self.min_count = min_steps if min_steps is not None else spec.epochs
        self.patience = spec.patience
        if self.kind == "steps":
            self.total_steps = spec.steps
            self.max_epochs = math.ceil(spec.steps / steps_per_epoch)
        elif self.kind == "converged":
            # The cap never cuts the minimum short: a tiny subset has few steps per epoch.
            self.max_epochs = max(spec.max_epochs, math.ceil(self.min_count / self._unit))
            self.total_steps = steps_per_epoch * self.max_epochs  # an upper bound, for progress bars
        else:
            self.max_epochs = spec.epochs
            self.total_steps = steps_per_epoch * spec.epochs
        self.warmup = max(1, min(self.total_steps, round(spec.warmup_epochs * steps_per_epoch)))
        self.best_val = -math.inf
        self.best_epoch = 0
        self._since_best = 0
        self._decayed = False

    @property
    def selects_best(self) -> bool:
        """Whether the run reports its best validation epoch rather than its last."""
        return self.kind == "converged"

    def lr_factor(self, step: int) -> float:
        """The multiplier of the base rates before optimizer step ``step`` (0-based)."""
        if step < self.warmup:
            return (step + 1) / self.warmup
        if self.kind == "converged":
            return PLATEAU_DECAY if self._decayed else 1.0
        progress = (step - self.warmup) / max(1, self.total_steps - self.warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    def steps_in_epoch(self, epoch: int) -> int:
        """Optimizer steps of 1-based ``epoch``: a full epoch, or what is left of a step budget."""
        return max(0, min(self.steps_per_epoch, self.total_steps - (epoch - 1) * self.steps_per_epoch))

    def end_epoch(self, epoch: int, val_acc: float) -> tuple[bool, str | None]:
        """Record an epoch's validation accuracy: (whether it is the new best, the stop reason or None)."""
        improved = val_acc > self.best_val  # a tie is no progress: a plateau must end
        if improved:
            self.best_val, self.best_epoch, self._since_best = val_acc, epoch, 0
        else:
            self._since_best += self._unit
        done = epoch * self._unit  # steps (or epochs) trained so far: converged has only whole epochs
        if self.kind == "converged" and done >= self.min_count and self._since_best >= self.patience:
            if self._decayed:
                return improved, "plateau"
            self._decayed, self._since_best = True, 0
        if epoch >= self.max_epochs or self.steps_in_epoch(epoch + 1) == 0:
            return improved, {"epochs": "epochs", "steps": "steps"}.get(self.kind, "cap")
        return improved, None
