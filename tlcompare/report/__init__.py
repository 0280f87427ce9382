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


def write_run_files(report, out: str | Path) -> tuple[Path, Path]:
    """What ``tlcompare run --out FILE.json`` writes for its experiment (a loaded ``ExperimentReport``,
    or a list of them: a resolution sweep): the JSON at ``out`` and the CSV beside it (same stem), so
    a script reads either command's files."""
    from tlcompare.report import tables

    reports = report if isinstance(report, list) else [report]
    json_path = Path(out)
    csv_path = json_path.with_suffix(".csv")
    if csv_path == json_path:  # --out results.csv: the JSON must not be overwritten by the CSV
        json_path = json_path.with_suffix(".json")
    _write(json_path, tables.to_json(reports).encode("utf-8"))
    _write(csv_path, tables.to_csv(reports).encode("utf-8"))
    return json_path, csv_path


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # a reader never opens a half-written file
