"""The dashboard's files: its pages, for navigation and links, and the folder of its static files.

Page paths are relative to app.py, as ``st.Page`` and ``st.page_link`` take them.
"""

from pathlib import Path

NEW = "pages/new_experiment.py"
LIVE = "pages/live.py"
RESULTS = "pages/results.py"
HISTORY = "pages/history.py"
REPORT = "pages/report.py"

# Logo, page icon, the presentation view's stylesheet, the sample zip (assets/README.md).
ASSETS = Path(__file__).resolve().parent.parent / "assets"
