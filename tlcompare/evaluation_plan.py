"""What a run evaluates, and when: the loop does it and the estimate counts it (no torch here).

- validation, every epoch (the curves, and the best epoch under ``converged``);
- a sample of the training images without augmentation, every epoch (the overfitting view):
  ``plain_sample_size`` of them, evenly spread, so the pass costs a small share of the epoch;
- the test set and all the training images without augmentation, once, on the model the run
  reports (``train.loop.finish``): no chart shows a per-epoch test accuracy, and evaluating the test
  set every epoch cost as much as the epochs' training at 5 images per class.
"""

from __future__ import annotations

import math

# At most this many training images in the per-epoch plain pass.
PLAIN_TRAIN_SAMPLE = 1000
# The share of the subset it scores: scoring an image costs a fraction of training on it, so the
# pass stays under a tenth of the epoch's training (docs/benchmarks.md, "What an epoch spends").
PLAIN_TRAIN_SHARE = 0.5
PLAIN_TRAIN_MIN = 10


def plain_sample_size(n: int) -> int:
    """How many of ``n`` training images the per-epoch plain pass scores: PLAIN_TRAIN_SHARE of them,
    at least PLAIN_TRAIN_MIN (all when fewer), at most PLAIN_TRAIN_SAMPLE."""
    return min(n, PLAIN_TRAIN_SAMPLE, max(math.ceil(PLAIN_TRAIN_SHARE * n), PLAIN_TRAIN_MIN))


def images_evaluated(n_train: int, n_val: int, n_test: int, evaluations: int) -> int:
    """Images a run of ``n_train`` training images evaluates over ``evaluations`` epochs, the final pass included."""
    return evaluations * (n_val + plain_sample_size(n_train)) + n_test + n_train
