"""The Report page's export row: pick experiments, then one download button per report format.

Each file is built only when its button is clicked (a PDF takes seconds), by tlcompare.report,
the same code as ``tlcompare report``.
"""

from __future__ import annotations

import streamlit as st

from tlcompare import report
from tlcompare.report.pdf import find_browser
from ui.state import experiment_label, store

BUTTONS = [  # (format, label, icon)
    ("html", "Report (HTML)", ":material/language:"),
    ("pdf", "Report (PDF)", ":material/picture_as_pdf:"),
    ("csv", "Runs and epochs (CSV)", ":material/table:"),
    ("json", "Runs and epochs (JSON)", ":material/data_object:"),
    ("md", "Final table (Markdown)", ":material/markdown:"),
    ("tex", "Final table (LaTeX)", ":material/functions:"),
]


def render(experiments: list[dict], current: dict) -> None:
    by_id = {e["id"]: e for e in experiments}
    choices = [e["id"] for e in experiments if e["n_finished"] > 0 or e["id"] == current["id"]]
    key = f"report_ids_{current['id']}"  # a selection per experiment: switching experiments starts from that one
    # The selection is kept in st.session_state only (no widget default as well: Streamlit warns, with a
    # stack trace in the server log, about a widget given both); an experiment deleted since must not linger.
    st.session_state[key] = [i for i in st.session_state.get(key, [current["id"]]) if i in choices]
    ids = st.multiselect("Experiments in the report", choices, key=key,
                         format_func=lambda i: experiment_label(by_id[i]),
                         help="Several experiments (say two backbones on the same data) share one report, "
                              "with their comparison charts overlaid.")
    s = store()  # captured here: the builders run on another thread, outside the page script
    no_pdf = find_browser() is None
    with st.container(horizontal=True):
        for fmt, label, icon in BUTTONS:
            mime, _, what = report.FORMATS[fmt]
            disabled = not ids or (fmt == "pdf" and no_pdf)
            st.download_button(
                label, (lambda fmt=fmt, ids=tuple(ids): report.render_report(s, ids, fmt)) if ids else b"",
                file_name=report.file_name(ids or [current["id"]], fmt), mime=mime, icon=icon, disabled=disabled,
                key=f"report_{fmt}", on_click="ignore",
                help=("PDF needs Chromium or Chrome on the dashboard's machine." if fmt == "pdf" and no_pdf
                      else what[0].upper() + what[1:] + "."))
    st.caption("The HTML report opens offline in any browser: verdict, spec, environment, every chart of Results "
               "(interactive), the paired-difference table and every run. `tlcompare report ID ...` writes the same files.")
