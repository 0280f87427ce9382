"""A zip uploaded through the dashboard, made into a dataset string and its check.

The page hands over the uploaded file; this extracts it safely into the tlcompare home, decodes
and checks it, and returns the ``imagefolder:`` string the experiment spec will hold. Nothing
here imports streamlit, so it is tested without a browser.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from tlcompare.data.inspect import DatasetReport, inspect_source
from tlcompare.data.safe_zip import DEFAULT_LIMITS, MiB, ZipLimits, extract_zip
from tlcompare.errors import UserError
from tlcompare.text.escape import printable

# The server keeps an upload in memory while it arrives: keep this equal to server.maxUploadSize
# in .streamlit/config.toml, which refuses larger files before they are read.
MAX_UPLOAD_MB = 1024
UPLOAD_LIMITS = ZipLimits(**{**DEFAULT_LIMITS.__dict__, "max_archive_bytes": MAX_UPLOAD_MB * MiB})


def receive_upload(data: bytes | BinaryIO, filename: str, sizes: list[int] | tuple[int, ...] = (),
                   image_size: int | None = None,
                   progress: Callable[[int, int], None] | None = None) -> tuple[str, DatasetReport]:
    """Extract and check an uploaded zip; return the dataset string for the spec and the report.

    Raises UserError (UnsafeArchive included) with one line for the page to show.
    """
    folder = extract_zip(data, limits=UPLOAD_LIMITS, label=f"'{printable(filename, 80)}'", name=Path(filename).stem)
    source = f"imagefolder:{folder}"
    try:
        return source, inspect_source(source, sizes=sizes, image_size=image_size, progress=progress)
    except UserError:
        # Refused (no class folders, one class, too many files): nothing can use what it wrote.
        shutil.rmtree(folder.parent, ignore_errors=True)
        raise
