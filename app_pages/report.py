"""Report: what goes to the design review, and every run as files."""

import streamlit as st

from tlcompare import analysis, charts
from tlcompare.data.escape import markdown_safe
from ui import cached, paths, presentation, report_downloads
from ui.state import pick_experiment, store

st.title("Report")
experiments = store().list_experiments()
with st.container(key="controls_report"):
    experiment = pick_experiment(experiments, key="report_experiment", prefer="results")
if experiment is None:
    st.info("No experiments yet: a report needs finished runs.", icon=":material/hourglass_empty:")
    st.page_link(paths.NEW, label="New experiment", icon=":material/add_circle:")
    st.stop()

runs = cached.finished_runs(cached.stamp(experiment))

st.subheader("Files for the design review and your own analysis")
report_downloads.render(experiments, experiment)
with st.container(horizontal=True):
    if st.button("Present the results", icon=":material/slideshow:", type="primary", key="present_results"):
        presentation.set_on(True)
        st.switch_page(paths.RESULTS, query_params={"exp": str(experiment["id"]), "present": "1"})
st.caption("Opens Results in presentation view: large type, no sidebar or controls, for a projector.")

done = [r for r in runs if r["status"] == "done"]
if done:
    frame = analysis.runs_frame(done)
    with st.container(border=True):
        st.markdown(f"### {markdown_safe(experiment['name'])}")
        st.markdown(f"**{analysis.answer(frame)}** {analysis.answer_caveat(frame)}")
        for line in analysis.verdict(frame):
            st.markdown(f"- {line}")
        st.plotly_chart(charts.gap_chart(analysis.paired_differences(frame)), key="report_gap", theme=None,
                        config={"displaylogo": False})
else:
    st.info("The preview appears once runs finish.", icon=":material/hourglass_top:")
