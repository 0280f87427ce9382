"""Run records shaped like the store's, without training: for chart and analysis tests.

The default grid is the large case the dashboard must stay readable with: 3 arms x 8 sizes x
5 seeds, 20 epochs each. Pretrained runs learn faster and plateau higher, as they do in reality.
"""

from __future__ import annotations

import random


def synth_runs(sizes=(1, 2, 5, 10, 20, 50, 100, 200), seeds=5, epochs=20, freezes=(0, "all")) -> list[dict]:
    rng = random.Random(0)
    runs = []
    for size in sizes:
        for seed in range(seeds):
            for arm, freeze in [("scratch", None)] + [("pretrained", f) for f in freezes]:
                plateau = 0.3 + 0.6 * (1 - 1 / (1 + size / (5 if arm == "pretrained" else 40)))
                rate = 0.6 if arm == "pretrained" else 0.85
                epoch_rows, elapsed = [], 0.0
                for e in range(1, epochs + 1):
                    elapsed += 0.1 * size
                    acc = min(1.0, max(0.0, plateau * (1 - rate**e) + rng.gauss(0, 0.02)))
                    epoch_rows.append(dict(epoch=e, train_acc=min(1.0, acc + 0.1), val_acc=acc, test_acc=acc,
                                           elapsed_train_seconds=elapsed, train_seconds=0.1 * size,
                                           images_per_sec=100.0))
                runs.append(dict(
                    arm=arm, size=size, seed=seed, freeze=freeze, model="m", status="done",
                    trainable_params=1000 if freeze == "all" else 4_000_000, total_params=4_000_000,
                    n_train=size * 10, epochs=epoch_rows,
                    final=dict(test_acc=epoch_rows[-1]["test_acc"], train_seconds=elapsed, images_per_sec=100.0),
                    confusion=[[5, 1], [2, 4]], misclassified=[],
                ))
    return runs


def runs_with_images(accuracies: dict, n_test: int = 400, statuses: dict | None = None, seed: int = 0) -> list[dict]:
    """Finished runs with per-image results, for the verdict's statistics.

    ``accuracies``: {(arm, freeze, size): [test accuracy per seed]}; each run gets exactly
    round(acc * n_test) test images right. Images share a difficulty, so arms agree on easy and
    hard ones as real models do, and differ near their own accuracy threshold.
    ``statuses``: {(arm, freeze, size, seed): status} for runs that did not finish.
    """
    import numpy as np

    from tlcompare.store.correct_bits import pack_correct

    rng = np.random.default_rng(seed)
    difficulty = rng.random(n_test)
    runs = []
    for (arm, freeze, size), accs in accuracies.items():
        for s, acc in enumerate(accs):
            status = (statuses or {}).get((arm, freeze, size, s), "done")
            right = round(acc * n_test)
            order = np.argsort(difficulty + 0.4 * rng.random(n_test))
            correct = np.zeros(n_test, dtype=bool)
            correct[order[:right]] = True
            done = status == "done"
            runs.append(dict(
                arm=arm, size=size, seed=s, freeze=freeze, model="m", status=status,
                trainable_params=1000 if freeze == "all" else 4_000_000, total_params=4_000_000, n_train=size * 10,
                epochs=[], final=dict(test_acc=right / n_test, train_seconds=1.0) if done else {},
                test_correct=pack_correct(correct) if done else None,
            ))
    return runs
