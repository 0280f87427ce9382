"""Predictions in large batches on the device, and the metrics every epoch reports.

One ``predict`` serves images and cached features alike: a ``view`` turns each chunk into what
the model part reads (uint8 images into normalised floats; features as they are).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score

from tlcompare.train.device import mixed_precision


def image_view(to_input: Callable[[torch.Tensor], torch.Tensor], device: torch.device):
    """Chunks of uint8 images (on the device or in pinned host memory) as a backbone reads them."""

    def view(chunk: torch.Tensor) -> torch.Tensor:
        # A no-op for images on the device; from pinned host memory the copy runs asynchronously.
        x = to_input(chunk.to(device, non_blocking=True).float().div_(255))
        return x.contiguous(memory_format=torch.channels_last)

    return view


@torch.no_grad()  # not inference_mode: the layout switch below must give ordinary parameters back
def predict(model, inputs, labels, view, device, loss_fn=None, batch: int = 512):
    """Return (mean loss or nan, predictions) of ``model`` on ``view`` of each chunk of ``inputs``."""
    was_training = model.training
    model.eval()
    # On the CPU, oneDNN's channels_last kernels infer about 4x faster (measured at 32 px), but
    # train slower: switch the weights' layout for evaluation only (a no-op for a linear head).
    cpu_layout_switch = device.type == "cpu"
    if cpu_layout_switch:
        model.to(memory_format=torch.channels_last)
    preds, loss_sum = [], torch.zeros((), device=device)
    for start in range(0, len(inputs), batch):
        x = view(inputs[start : start + batch])
        with mixed_precision(device):
            logits = model(x).float()
        if loss_fn is not None:
            loss_sum += loss_fn(logits, labels[start : start + batch]) * len(x)
        preds.append(logits.argmax(1))
    if cpu_layout_switch:
        model.to(memory_format=torch.contiguous_format)
    model.train(was_training)
    pred = torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long, device=device)
    loss = loss_sum.item() / max(1, len(inputs)) if loss_fn is not None else float("nan")
    return loss, pred


def classification_metrics(labels: torch.Tensor, pred: torch.Tensor, num_classes: int) -> dict:
    y = labels.cpu().numpy()
    p = pred.cpu().numpy()
    cm = confusion_matrix(y, p, labels=np.arange(num_classes))
    support = cm.sum(axis=1)
    per_class = np.divide(np.diag(cm), support, out=np.full(num_classes, np.nan), where=support > 0)
    return {
        "acc": float((y == p).mean()) if len(y) else float("nan"),
        "balanced_acc": float(balanced_accuracy_score(y, p)) if len(y) else float("nan"),
        "macro_f1": float(f1_score(y, p, average="macro", labels=np.arange(num_classes), zero_division=0)),
        "confusion": cm.tolist(),
        "per_class_acc": [float(v) for v in per_class],
    }
