"""The dashboard's pages, by file: one place to name them for navigation and links.

They live in ``pages/``, not ``pages/``: Streamlit still treats a folder named ``pages``
next to the main script as the old automatic multipage layout on a process's first run (and on
every AppTest run), and then runs a bookmarked page without app.py, so without the sidebar,
the wide layout or the presentation view.
"""

NEW = "pages/new_experiment.py"
LIVE = "pages/live.py"
RESULTS = "pages/results.py"
HISTORY = "pages/history.py"
REPORT = "pages/report.py"
