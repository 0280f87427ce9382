"""Decode one image file of any common kind into a square uint8 array, or say why it cannot be.

Every mode PIL reads ends up as 8-bit gray or RGB: EXIF rotation applied, 16-bit and float images
scaled from their full range (a fixed mapping, not a per-image stretch, so relative brightness
between images survives), palettes expanded, alpha composited on white, CMYK converted.

Square by centre crop: the shorter side is resized to the stored size and the longer side cropped
to it, as the ImageNet evaluation transform does, so pretrained features see undistorted shapes.
A squash would keep the edges but bend every object; images far from square lose their edges
instead, and the dataset check counts them.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Only the formats a user's photos and scans come in. Restricting PIL to them keeps untrusted files
# away from its rarer decoders (EPS even calls Ghostscript).
FORMATS = ("JPEG", "PNG", "BMP", "DIB", "TIFF", "WEBP")  # JPEG includes multi-picture (MPO) phone photos
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".dib", ".tif", ".tiff", ".webp"})
FORMAT_NAMES = "JPEG, PNG, BMP, TIFF or WebP"
# PIL's own decompression-bomb limit (about 89 million pixels); PIL only warns between one and two
# times this, tlcompare refuses from one.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
DECODER_VERSION = 1  # bump when the output of decode_image changes, to invalidate caches
# decode_image refuses from one times the limit itself, so PIL's warning between one and two times
# says nothing new. Filtered once here: turning it into an error per call (warnings.catch_warnings)
# changes process-wide state, and decoding threads racing on it gave a file a different reason.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


@dataclass
class Decoded:
    pixels: np.ndarray | None = None  # S x S (gray) or S x S x 3 (RGB) uint8
    width: int = 0  # as stored in the file, before EXIF rotation
    height: int = 0
    mode: str = ""
    sha256: str = ""
    error: str | None = None

    @property
    def gray(self) -> bool:
        return self.pixels is not None and self.pixels.ndim == 2


def decode_image(path: str | Path, size: int, max_pixels: int = MAX_PIXELS) -> Decoded:
    """Decode ``path`` to at most ``size`` x ``size`` (never enlarged here); errors become ``Decoded.error``."""
    path = Path(path)
    try:
        n_bytes = path.stat().st_size
        if n_bytes == 0:
            return Decoded(error="empty file (0 bytes)")
        digest = file_hash(path)
    except OSError as e:
        return Decoded(error=f"cannot be read: {e.strerror or e}")
    out = Decoded(sha256=digest)
    try:
        with Image.open(path, formats=FORMATS) as im:
            out.width, out.height, out.mode = im.width, im.height, im.mode
            if im.width * im.height > max_pixels:
                out.error = _too_large(im.width, im.height, max_pixels)
                return out
            # JPEG can decode at 1/2, 1/4 or 1/8 scale directly: much faster for big photos,
            # and never below the requested size.
            im.draft(None, (size, size))
            im.load()  # decode errors surface here, before the EXIF step that tolerates its own
            im = _upright(im)
            out.pixels = _fit(_to_8bit(im), size)
    except Image.DecompressionBombError as e:
        # PIL refused in open(), before the size was known here: its message has the pixel count.
        found = re.search(r"\((\d+) pixels\)", str(e))
        out.error = _too_large(out.width, out.height, max_pixels, int(found.group(1)) if found else None)
    except UnidentifiedImageError:
        out.error = f"not a {FORMAT_NAMES} image (its content does not match its name)"
    except MemoryError:
        out.error = "too large to decode in memory"
    except Exception as e:  # any decoder failure on a user's file is a bad file, not a tlcompare bug
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        kind = "truncated" if "truncated" in text.lower() else "damaged"
        out.error = f"{kind} ({text[:160]})"
    return out


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(2**20):
            h.update(chunk)
    return h.hexdigest()[:32]


def _upright(im: Image.Image) -> Image.Image:
    # A damaged EXIF block should not cost a photo whose pixels are fine: keep it unrotated.
    try:
        return ImageOps.exif_transpose(im)
    except Exception:
        return im


def _too_large(width: int, height: int, limit: int, pixels: int | None = None) -> str:
    """The same words whichever check refused the file: this one (with the image's size) or PIL's."""
    size = f"{width * height:,} pixels" if width else f"{pixels:,} pixels" if pixels else "too many pixels"
    dims = f"{width}x{height}: " if width else ""
    return (f"{size}, over the decompression-bomb limit of {limit:,} "
            f"({dims}a hostile file, or a scan too large to decode safely: downscale it first)")


def _to_8bit(im: Image.Image) -> Image.Image:
    """Mode 'L' for gray sources, 'RGB' for everything else."""
    mode = im.mode
    if mode in ("L", "1"):
        return im.convert("L")
    if mode == "I" or mode.startswith("I;16"):
        a = np.asarray(im)
        if mode == "I" and a.size and int(a.max()) <= 255:
            a8 = a.clip(0, 255).astype(np.uint8)  # an 8-bit image stored in a wide mode
        else:
            a8 = ((a.clip(0, 65535).astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
        return Image.fromarray(a8)
    if mode == "F":
        a = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        scale = 255.0 if a.size and float(a.max()) <= 1.0 else 1.0  # [0, 1] floats are the common convention
        return Image.fromarray((a * scale).round().clip(0, 255).astype(np.uint8))
    if mode in ("LA", "La"):
        return _on_white(im).convert("L")
    if mode in ("RGBA", "RGBa", "PA") or (mode == "P" and "transparency" in im.info):
        return _on_white(im)
    return im.convert("RGB")  # RGB, P, CMYK, YCbCr, ...


def _on_white(im: Image.Image) -> Image.Image:
    # A transparent background is usually white where the image was meant to be seen; black (what a
    # plain convert gives) would make every cut-out product photo look alike.
    rgba = im.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    background.alpha_composite(rgba)
    return background.convert("RGB")


def _fit(im: Image.Image, size: int) -> np.ndarray:
    side = min(size, im.width, im.height)
    square = ImageOps.fit(im, (side, side), method=Image.Resampling.BICUBIC, centering=(0.5, 0.5))
    return np.asarray(square, dtype=np.uint8).copy()


def resize_square(pixels: np.ndarray, size: int) -> np.ndarray:
    """Enlarge an image decoded smaller than the others to the common stored size."""
    im = Image.fromarray(pixels).resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(im, dtype=np.uint8).copy()
