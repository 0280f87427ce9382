"""Streamlit helpers shared by the dashboard's pages: the store handle, the chosen experiment,
the sidebar, presentation view and error display. Logic that does not need Streamlit lives in
tlcompare/ instead."""
