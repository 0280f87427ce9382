"""Augmentation of whole batches on the device where the data lives: no per-image Python work.

Every function takes a float batch N x C x H x W in [0, 1] and a torch.Generator, so a run on
the CPU is reproducible for its seed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _rand(n: int, g: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, generator=g, device=g.device).to(device)


def flip(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the batch left-right."""
    mask = (_rand(x.shape[0], g, x.device) < 0.5).view(-1, 1, 1, 1)
    return torch.where(mask, x.flip(3), x)


def crop(x: torch.Tensor, g: torch.Generator, pad_frac: float = 0.125) -> torch.Tensor:
    """Random translation: reflect-pad by ~1/8 of the side, then crop back at a random offset.

    One gather over precomputed row and column indices shifts every image by its own offset.
    """
    n, c, h, w = x.shape
    pad = max(1, round(min(h, w) * pad_frac))
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect" if pad < min(h, w) else "replicate")
    dy = (_rand(n, g, x.device) * (2 * pad + 1)).long().clamp_max(2 * pad)
    dx = (_rand(n, g, x.device) * (2 * pad + 1)).long().clamp_max(2 * pad)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])  # n x h
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])  # n x w
    rows_idx = rows[:, None, :, None].expand(n, c, h, w + 2 * pad)
    out = padded.gather(2, rows_idx)
    cols_idx = cols[:, None, None, :].expand(n, c, h, w)
    return out.gather(3, cols_idx)


def resized_crop(x: torch.Tensor, g: torch.Generator, scale=(0.35, 1.0), ratio=(3 / 4, 4 / 3)) -> torch.Tensor:
    """Inception-style random resized crop, as one affine grid_sample over the batch."""
    n = x.shape[0]
    area = scale[0] + (scale[1] - scale[0]) * _rand(n, g, x.device)
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * _rand(n, g, x.device)
    r = torch.exp(log_r)
    sw = torch.sqrt(area * r).clamp(max=1.0)
    sh = torch.sqrt(area / r).clamp(max=1.0)
    tx = (2 * _rand(n, g, x.device) - 1) * (1 - sw)
    ty = (2 * _rand(n, g, x.device) - 1) * (1 - sh)
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sw, tx, sh, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def augment(x: torch.Tensor, mode: str, g: torch.Generator) -> torch.Tensor:
    if mode == "none":
        return x
    if mode in ("crop", "crop_flip"):
        x = crop(x, g)
    if mode == "resized_crop_flip":
        x = resized_crop(x, g)
    if mode.endswith("flip"):
        x = flip(x, g)
    return x
