"""Draws the two generated files of assets/: the sidebar logo and the sample zip of images.

    python assets/make.py

Both come out the same on every run (fixed seed, fixed zip dates), so a rebuild changes nothing
unless this file changed. Needs Pillow and numpy only.
"""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
# The favicon's colours, which are also the charts' colours for the two sides of every comparison.
SCRATCH = (213, 94, 0)
PRETRAINED = (28, 95, 168)
INK = (19, 32, 43)  # the theme's text colour
FONTS = ["/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "DejaVuSans-Bold.ttf"]

SHAPES = ("circle", "square", "triangle")
PER_CLASS = 24
SIDE = 48
ZIP_DATE = (2026, 12, 1, 0, 0, 0)


# -- logo ---------------------------------------------------------------------------------------------
def logo(scale: int = 3) -> Image.Image:
    """The favicon's two bars (from scratch, pretrained) and the name, drawn at ``scale`` times the
    32 px height the sidebar shows, so it stays sharp on high-density screens."""
    h = 32 * scale
    font = _font(int(22 * scale))
    text = "tlcompare"
    width = int(font.getlength(text))
    img = Image.new("RGBA", (31 * scale + width + 2 * scale, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    bar = 9 * scale
    d.rounded_rectangle((3 * scale, 15 * scale, 3 * scale + bar, 29 * scale), radius=scale, fill=SCRATCH)
    d.rounded_rectangle((16 * scale, 4 * scale, 16 * scale + bar, 29 * scale), radius=scale, fill=PRETRAINED)
    d.text((31 * scale, h // 2), text, font=font, fill=INK, anchor="lm")
    return img


def _font(size: int) -> ImageFont.FreeTypeFont:
    for name in FONTS:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    raise SystemExit("DejaVu Sans Bold is needed for the logo (Debian: fonts-dejavu-core)")


# -- sample images ------------------------------------------------------------------------------------
def shape_image(shape: str, rng: np.random.Generator) -> Image.Image:
    """One ``shape`` of random colour, size, place and turn on a soft two-colour gradient: a task a
    pretrained network should learn from a handful of images, and one from scratch less easily."""
    top, bottom = rng.integers(170, 256, size=(2, 3))
    ramp = np.linspace(0, 1, SIDE)[:, None, None]
    background = (top * (1 - ramp) + bottom * ramp).repeat(SIDE, axis=1).astype(np.uint8)
    img = Image.fromarray(background, "RGB")
    d = ImageDraw.Draw(img)
    colour = tuple(int(c) for c in rng.integers(0, 150, size=3))
    r = float(rng.uniform(7, 15))
    cx, cy = rng.uniform(r + 2, SIDE - r - 2, size=2)
    turn = float(rng.uniform(0, 2 * math.pi))
    if shape == "circle":
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    else:
        corners = 4 if shape == "square" else 3
        d.polygon([(cx + r * math.cos(turn + 2 * math.pi * k / corners), cy + r * math.sin(turn + 2 * math.pi * k / corners))
                   for k in range(corners)], fill=colour)
    return img


def sample_zip() -> bytes:
    rng = np.random.default_rng(20261201)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:  # PNGs are compressed already
        for shape in SHAPES:
            for i in range(PER_CLASS):
                png = io.BytesIO()
                shape_image(shape, rng).save(png, "PNG", optimize=True)
                z.writestr(zipfile.ZipInfo(f"shapes/{shape}/{shape}-{i:02d}.png", ZIP_DATE), png.getvalue())
    return out.getvalue()


if __name__ == "__main__":
    logo().save(HERE / "logo.png", optimize=True)
    (HERE / "sample-shapes.zip").write_bytes(sample_zip())
    for name in ("logo.png", "sample-shapes.zip"):
        print(f"{name}: {(HERE / name).stat().st_size / 1024:.0f} KB")
