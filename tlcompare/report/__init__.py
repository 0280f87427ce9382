"""Comparison reports: one or more experiments from the store as HTML, PDF, CSV, JSON, Markdown or LaTeX.

    render_report(store, [3, 4], "html") -> bytes

CSV, JSON, Markdown and LaTeX need only the engine's packages; HTML and PDF import plotly when
asked for, so ``tlcompare run`` on a GPU machine without the UI packages never loads it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tlcompare.errors import UserError

FORMATS = {  # name: (MIME type, file suffix, what it holds)
    "html": ("text/html", ".html", "self-contained report with interactive charts"),
    "pdf": ("application/pdf", ".pdf", "the same report as printable pages"),
    "csv": ("text/csv", ".csv", "every run and epoch, one row each"),
    "json": ("application/json", ".json", "every run and epoch with spec and environment"),
    "md": ("text/markdown", ".md", "final-metric tables in Markdown"),
    "tex": ("application/x-tex", ".tex", "final-metric tables in LaTeX (booktabs)"),
}
SUFFIXES = {suffix: name for name, (_, suffix, _) in FORMATS.items()} | {".htm": "html", ".markdown": "md"}


def render(reports, fmt: str) -> bytes:
    """The file's bytes for experiments already loaded (``content.load_experiments``)."""
    if fmt not in FORMATS:
        raise UserError(f"unknown report format '{fmt}': choose one of {', '.join(FORMATS)}")
    if fmt in ("csv", "json", "md", "tex"):
        from tlcompare.report import tables

        text = {"csv": tables.to_csv, "json": tables.to_json, "md": tables.to_markdown, "tex": tables.to_latex}[fmt](reports)
        return text.encode("utf-8")
    try:
        from tlcompare.report.html import render_html
    except ModuleNotFoundError as e:
        raise UserError(f"HTML and PDF reports need the package {e.name} (pip install {e.name}); CSV, JSON, md and tex "
                        "do not") from None
    if fmt == "html":
        return render_html(reports).encode("utf-8")
    from tlcompare.report.pdf import html_to_pdf

    return html_to_pdf(render_html(reports, mode="print"))


def render_report(store, ids, fmt: str) -> bytes:
    from tlcompare.report.content import load_experiments

    return render(load_experiments(store, ids), fmt)


def file_name(ids, fmt: str) -> str:
    return f"tlcompare-report-{'-'.join(str(i) for i in dict.fromkeys(ids))}{FORMATS[fmt][1]}"


def resolve_format(fmt: str | None, out: str | None) -> str:
    """An explicit format wins; else the output file's extension; else HTML."""
    if fmt:
        return fmt
    if out and out != "-":
        return SUFFIXES.get(Path(out).suffix.lower(), "html")
    return "html"


def write_report(store, ids, fmt: str | None = None, out: str | None = None) -> str:
    """Render and write the report; ``out="-"`` writes a text format to stdout. Returns where it went."""
    fmt = resolve_format(fmt, out)
    data = render_report(store, ids, fmt)
    if out == "-":
        if fmt == "pdf":
            raise UserError("a PDF is not written to the terminal: give --out FILE.pdf")
        sys.stdout.write(data.decode("utf-8"))
        sys.stdout.flush()
        return "stdout"
    path = Path(out) if out else Path(file_name(ids, fmt))
    _write(path, data)
    return str(path)


def write_run_files(report, out: str | Path) -> tuple[Path, Path | None]:
    """What ``tlcompare run --out FILE.json`` writes for its experiment (a loaded ``ExperimentReport``,
    or a list of them: a resolution sweep): the JSON at ``out`` and the CSV beside it (same stem), so
    a script reads either command's files. ``out`` a device or pipe (/dev/null, /dev/stdout) gets the
    JSON alone: no file is made beside it."""
    from tlcompare.report import tables

    reports = report if isinstance(report, list) else [report]
    json_path = check_output(out)
    if json_path.exists() and not json_path.is_file():
        _write(json_path, tables.to_json(reports).encode("utf-8"))
        return json_path, None
    csv_path = json_path.with_suffix(".csv")
    if csv_path == json_path:  # --out results.csv: the JSON must not be overwritten by the CSV
        json_path = json_path.with_suffix(".json")
    _write(json_path, tables.to_json(reports).encode("utf-8"))
    _write(csv_path, tables.to_csv(reports).encode("utf-8"))
    return json_path, csv_path


def check_output(path: str | Path) -> Path:
    """``path`` with ~ expanded, or a UserError when nothing can be written there (a folder, or a
    link to one); said before any work, so a long run never ends in a refusal."""
    from tlcompare.text.escape import printable

    target = Path(path).expanduser()
    if target.is_dir():
        raise UserError(f"--out '{printable(str(path))}' is a folder: give a file name inside it, "
                        f"e.g. {printable(str(Path(path) / 'report'))}.html")
    return target


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` where ``path`` leads, never replacing what it points at: a link is followed and
    its target written (the link stays), a device or pipe (/dev/null, /dev/stdout) is written
    through, and a regular file is replaced whole, so a reader never opens a half-written one."""
    import stat
    import tempfile

    from tlcompare.text.escape import printable

    path = check_output(path)
    try:
        try:
            mode = os.stat(path).st_mode  # follows links, /proc/self/fd/1 included
        except FileNotFoundError:
            mode = None
        if mode is not None and not stat.S_ISREG(mode):
            with open(path, "wb") as f:  # on purpose: a device or a pipe is written, never replaced
                f.write(data)
            return
        target = Path(os.path.realpath(path)) if path.is_symlink() else path
        target.parent.mkdir(parents=True, exist_ok=True)
        # A fresh name in the same folder: a planted 'FILE.tmp' link is never written through.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as e:
        raise UserError(f"cannot write '{printable(str(path))}': {e.strerror or e}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
