"""A small CNN sized for the task, always trained from scratch.

It answers "why not a small model made for the task?": if it matches the pretrained backbone, the
big model and its pretraining were not needed.
"""

from __future__ import annotations

from torch import Tensor, nn

from tlcompare.models.backbone import Backbone, Stage

WIDTHS = (32, 64, 128, 256)
STAGES = [f"block{i + 1}" for i in range(len(WIDTHS))]
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        # ceil_mode keeps a 1x1 map 1x1, so 8x8 digits go through all four blocks (8, 4, 2, 1 px).
        nn.MaxPool2d(2, ceil_mode=True),
    )


class SmallCNN(nn.Module):
    def __init__(self, num_classes: int, in_chans: int = 3, widths: tuple[int, ...] = WIDTHS):
        super().__init__()
        chans = (in_chans, *widths)
        self.blocks = nn.Sequential(*(conv_block(a, b) for a, b in zip(chans[:-1], chans[1:], strict=True)))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(widths[-1], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.pool(self.blocks(x)).flatten(1))


def build(num_classes: int, in_chans: int) -> Backbone:
    model = SmallCNN(num_classes, in_chans)
    return Backbone(
        name="small_cnn",
        model=model,
        stages=[Stage(name, [block]) for name, block in zip(STAGES, model.blocks, strict=True)],
        head=model.head,
        mean=MEAN,
        std=STD,
        in_chans=in_chans,
        pretrained_source=None,
    )
