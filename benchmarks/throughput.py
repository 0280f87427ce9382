"""Training throughput: tlcompare's loop vs a tutorial-style PyTorch loop, side by side.

The baseline is what most users would write first (the PyTorch transfer-learning tutorial):
PIL images, torchvision transforms in a DataLoader with worker processes, fp32, batch 32. tlcompare's
number comes from its real training path (``train_run`` on device-resident uint8 data), read off
the per-epoch ``images_per_sec`` after a warm-up epoch.

    python benchmarks/throughput.py                       # GPU: 224 px and 64 px, both models
    python benchmarks/throughput.py --device cpu --image-sizes 32 --models efficientnet_lite0

Prints a table and, with --json, writes every figure with the device and date.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from tlcompare.data.base import ImageDataset
from tlcompare.models import apply_freeze, create_backbone, model_info
from tlcompare.spec import build_spec
from tlcompare.train import describe_device, prepare, resolve_device, train_run


def synthetic_dataset(n_per_class: int, classes: int, size: int, seed: int = 0) -> ImageDataset:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n_per_class * classes, 3, size, size), dtype=torch.uint8, generator=g)
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    return ImageDataset("synthetic", images, labels, [f"c{i}" for i in range(classes)], "random pixels")


# -- tlcompare ---------------------------------------------------------------------------------------
@functools.cache  # once per model: one checkpoint file and one line of output
def stand_in_weights(model: str) -> str | None:
    """Speed does not depend on the weights' values: without the real ones (offline), a random
    state dict saved as a local checkpoint takes their place, so freezing works the same."""
    if model_info(model).weights_unavailable() is None:
        return None
    path = Path(tempfile.gettempdir()) / f"tlcompare-bench-{model}.pth"
    if not path.exists():
        torch.save(create_backbone(model, num_classes=1000, pretrained=False).model.state_dict(), path)
    print(f"({model}: ImageNet weights not on this machine; timing with random weights of the same shape)")
    return str(path)


def tlcompare_images_per_sec(model: str, image_size: int, frozen: bool, device: torch.device,
                             n_per_class: int, batch: int, epochs: int) -> float:
    ds = synthetic_dataset(n_per_class, 10, image_size)
    size = int(n_per_class * 0.6)
    spec = build_spec({"dataset": "digits", "model": model, "sizes": [size], "seeds": 1, "image_size": image_size,
                       "freeze": ["all" if frozen else 0], "budget": "epochs", "epochs": epochs, "batch_size": batch,
                       "device": str(device), "val_fraction": 0.02, "test_fraction": 0.02, "validation": "held_out",
                       "weights": stand_in_weights(model)})  # held_out: every drawn image trains, as measured before
    data = prepare(spec, device, dataset=ds)
    run = next(r for r in spec.runs() if r.arm == "pretrained")
    res = train_run(run, data, device)
    steady = [e["images_per_sec"] for e in res.epochs[1:]]  # epoch 1 pays kernel selection and warm-up
    return float(np.median(steady))


# -- tutorial-style baseline -----------------------------------------------------------------------------
class PILDataset(torch.utils.data.Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray, transform):
        from PIL import Image

        self.images = [Image.fromarray(im.transpose(1, 2, 0)) for im in images]
        self.labels = labels
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), int(self.labels[i])


def baseline_images_per_sec(model: str, image_size: int, frozen: bool, device: torch.device,
                            n_images: int, batch: int, workers: int, steps: int) -> float:
    from torchvision import transforms

    ds = synthetic_dataset(n_images // 10, 10, image_size + image_size // 7)
    bb = create_backbone(model, num_classes=10, pretrained=True, weights=stand_in_weights(model))
    apply_freeze(bb, "all" if frozen else 0)
    net = bb.model.to(device).train()
    tf = transforms.Compose([
        transforms.RandomResizedCrop(image_size), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
        transforms.Normalize(bb.mean, bb.std),
    ])
    loader = torch.utils.data.DataLoader(PILDataset(ds.images.numpy(), ds.labels.numpy(), tf), batch_size=batch,
                                         shuffle=True, num_workers=workers, drop_last=True,
                                         persistent_workers=workers > 0, pin_memory=device.type == "cuda")
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    done, t0, warm = 0, None, 3
    while done < steps + warm:
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = loss_fn(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
            if done == warm:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
            if done >= steps + warm:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--models", default="resnet18,efficientnet_lite0")
    p.add_argument("--image-sizes", default="224,64")
    p.add_argument("--batch", type=int, default=256, help="tlcompare batch size")
    p.add_argument("--n-per-class", type=int, default=300, help="synthetic images per class for tlcompare")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--baseline-batch", type=int, default=32)
    p.add_argument("--baseline-workers", type=int, default=8)
    p.add_argument("--baseline-steps", type=int, default=60)
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args()

    device = resolve_device(args.device)
    rows = []

    def write_json(complete: bool) -> None:  # after every row: a run stopped by a time limit keeps what it measured
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"device": describe_device(device), "date": datetime.date.today().isoformat(),
                           "torch": torch.__version__, "python": platform.python_version(), "args": vars(args),
                           "complete": complete, "rows": rows}, f, indent=1)

    for model in args.models.split(","):
        for size in (int(s) for s in args.image_sizes.split(",")):
            for frozen in (False, True):
                ours = tlcompare_images_per_sec(model, size, frozen, device, args.n_per_class, args.batch, args.epochs)
                base = baseline_images_per_sec(model, size, frozen, device, 640, args.baseline_batch,
                                               args.baseline_workers, args.baseline_steps)
                row = {"model": model, "image_size": size, "training": "linear probe" if frozen else "full fine-tuning",
                       "tlcompare_img_s": round(ours), "baseline_img_s": round(base), "speedup": round(ours / base, 1)}
                rows.append(row)
                write_json(False)
                print(f"{model:<20} {size:>4}px {row['training']:<17} tlcompare {ours:>9.0f} img/s   "
                      f"baseline {base:>7.0f} img/s   x{ours / base:.1f}", flush=True)
    write_json(True)

if __name__ == "__main__":
    main()
