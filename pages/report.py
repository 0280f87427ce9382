"""Report: what goes to the design review, and every run as files."""

import streamlit as st

from tlcompare.charts import figures as charts
from tlcompare.text.escape import markdown_safe
from ui import cached, paths, presentation, report_downloads
from ui.frame import ensure_frame
from ui.state import experiment_or_stop

ensure_frame()

st.title("Report")
experiments, experiment = experiment_or_stop("report", prefer="results",
                                             empty="No experiments yet: a report needs finished runs.")

key = cached.stamp(experiment)
# The preview needs final metrics only: no epoch rows, no confusion matrices.
view = cached.preview(key, experiment)

st.subheader("Files for the design review and your own analysis")
report_downloads.render(experiments, experiment)
with st.container(horizontal=True):
    if st.button("Present the results", icon=":material/slideshow:", type="primary", key="present_results"):
        presentation.set_on(True)
        st.switch_page(paths.RESULTS, query_params={"exp": str(experiment["id"]), "present": "1"})
st.caption("Opens Results in presentation view: large type, no sidebar or controls, for a projector.")

if any(r["status"] == "done" for r in view.runs):
    with st.container(border=True):
        st.markdown(f"### {markdown_safe(experiment['name'])}")
        st.markdown(f"**{markdown_safe(view.verdict.answer)}**")
        for line in [*view.verdict.lines, *view.verdict.caveats]:
            st.markdown(f"- {markdown_safe(line)}")
        st.plotly_chart(cached.memo(key, ("gap", "report"), lambda: charts.at_resolution(
            charts.gap_chart(view.diffs), experiment["spec"].get("image_size"))),
                        key="report_gap", theme=None, config={"displaylogo": False})
else:
    st.info("The preview appears once runs finish.", icon=":material/hourglass_top:")
