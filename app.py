"""tlcompare dashboard: design a comparison, watch it train, read the answer.

    streamlit run app.py

The dashboard only writes experiment specs to the store and reads results back; training runs in
a separate worker process, so refreshing or closing the browser never loses a run. The pages are in
``pages/``; what surrounds them (page config, navigation, sidebar, the store check) is ``ui/frame.py``.
"""

from ui import frame

frame.run()
