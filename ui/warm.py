"""Load what Results needs in the background once the server has drawn its first page.

Results is the only page that imports scipy.stats and draws plotly figures; in a fresh server its
first view paid for those imports (about a second of a 2-core machine) between the heading and the
first chart. A thread started after any page's first script run loads them while the user reads
that page. Once per server process; a view of Results that comes first simply waits on the import
lock, as it would have imported them itself.
"""

from __future__ import annotations

import importlib
import threading

MODULES = ("tlcompare.analysis.frames", "tlcompare.analysis.verdict", "tlcompare.charts.figures",
           "tlcompare.charts.multiplier")

_started = threading.Event()


def start_once() -> None:
    if _started.is_set():
        return
    _started.set()
    threading.Thread(target=_load, name="tlcompare-warm-imports", daemon=True).start()


def _load() -> None:
    try:
        for name in MODULES:
            importlib.import_module(name)
        import plotly.graph_objects as go

        # plotly builds each property's validator the first time one is set: one small figure with
        # the trace and axis settings Results uses builds them here instead of on the first chart.
        fig = go.Figure([go.Scatter(x=[1, 2], y=[1, 2], mode="lines+markers", error_y={"type": "data", "array": [0, 0]}),
                         go.Bar(x=["a"], y=[1])])
        fig.update_layout(template="plotly_white", xaxis={"type": "log", "title": "x"}, yaxis={"title": "y"},
                          legend={"orientation": "h"}, margin={"t": 10})
        fig.to_plotly_json()
    except Exception:  # noqa: BLE001 - a warm-up that fails costs nothing: the page imports them itself
        pass
