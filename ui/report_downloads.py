"""The Report page's export row: pick experiments, then one download button per report format.

Each file is built only when its button is clicked, by tlcompare.report, the same code as
``tlcompare report``. The PDF is printed first (Chromium draws every chart: seconds to a minute)
and then offered for download; when printing fails the page says why in one line, where a
download button built on click could only fail without a word.
"""

from __future__ import annotations

import streamlit as st

from tlcompare import report
from tlcompare.errors import UserError
from tlcompare.report import pdf
from tlcompare.text.escape import markdown_safe
from ui import cached
from ui.state import experiment_label, store

BUTTONS = [  # (format, label, icon); the PDF has its own two steps (print_pdf)
    ("html", "Report (HTML)", ":material/language:"),
    ("csv", "Runs and epochs (CSV)", ":material/table:"),
    ("json", "Runs and epochs (JSON)", ":material/data_object:"),
    ("md", "Final table (Markdown)", ":material/markdown:"),
    ("tex", "Final table (LaTeX)", ":material/functions:"),
]


def render(experiments: list[dict], current: dict) -> None:
    by_id = {e["id"]: e for e in experiments}
    # The experiment is the one picked at the top of the page; this box only adds others to compare with,
    # so the page has one experiment picker, not two that can disagree.
    others = [e["id"] for e in experiments if e["n_finished"] > 0 and e["id"] != current["id"]]
    key = f"report_others_{current['id']}"  # a selection per experiment: switching experiments starts from that one
    # Kept in st.session_state only (no widget default as well: Streamlit warns, with a stack trace in the
    # server log, about a widget given both); an experiment deleted since must not linger.
    st.session_state[key] = [i for i in st.session_state.get(key, []) if i in others]
    added = st.multiselect("Compare with (optional)", others, key=key, format_func=lambda i: experiment_label(by_id[i]),
                           placeholder="other experiments in the same report", disabled=not others,
                           help="Several experiments (say two backbones on the same data) share one report, with "
                                "their comparison charts overlaid.")
    ids = [current["id"], *added]
    s = store()  # captured here: the builders run on another thread, outside the page script
    with st.container(horizontal=True):
        for fmt, label, icon in BUTTONS:
            mime, _, what = report.FORMATS[fmt]
            st.download_button(
                label, (lambda fmt=fmt, ids=tuple(ids): report.render_report(s, ids, fmt)) if ids else b"",
                file_name=report.file_name(ids or [current["id"]], fmt), mime=mime, icon=icon, disabled=not ids,
                key=f"report_{fmt}", on_click="ignore", help=what[0].upper() + what[1:] + ".")
    print_pdf(s, ids, tuple(cached.stamp(by_id[i]) for i in ids))
    st.caption("The HTML report opens offline in any browser: verdict, spec, environment, every chart of Results "
               "(interactive), the paired-difference table and every run. `tlcompare report ID ...` writes the same files.")


def print_pdf(s, ids: list[int], stamp) -> None:
    """Print, then download: the PDF of exactly the experiments and results the button was pressed for
    (``stamp`` changes with any of them), or the one line that says why it could not be printed."""
    problem = pdf.missing()
    key = (tuple(ids), stamp)
    done = st.session_state.get("report_pdf")
    with st.container(horizontal=True, vertical_alignment="center"):
        if st.button("Print the PDF", icon=":material/print:", disabled=not ids or problem is not None, key="report_pdf_print",
                     help=problem or "Chromium draws every chart and prints the report: seconds to a minute."):
            with st.spinner("Printing the PDF: Chromium draws every chart first…"):
                try:
                    done = {"key": key, "data": report.render_report(s, ids, "pdf"), "error": None}
                except UserError as e:
                    done = {"key": key, "data": None, "error": str(e)}
            st.session_state["report_pdf"] = done
        ready = done is not None and done["key"] == key
        if ready and done["data"] is not None:
            st.download_button("Report (PDF)", done["data"], file_name=report.file_name(ids, "pdf"),
                               mime=report.FORMATS["pdf"][0], icon=":material/picture_as_pdf:", key="report_pdf",
                               on_click="ignore", type="primary")
    if problem:
        st.caption(f":material/info: No PDF on this machine: {markdown_safe(problem)}.")
    elif ready and done["error"]:
        st.error(f"The PDF was not printed: {markdown_safe(done['error'])}.", icon=":material/print_disabled:")
