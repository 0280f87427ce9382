"""One logging setup for every tlcompare process (the CLI, a worker, the data cache): timestamped
lines on standard error, under the ``tlcompare`` logger. The dashboard's own process leaves logging
to Streamlit; its workers are CLI processes and log here."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S"


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each line (a test that captures it, a
    redirect made after the setup), never to a stream it kept from before."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def setup(level: int = logging.INFO) -> logging.Logger:
    """Attach the handler once (calling again changes nothing); returns the ``tlcompare`` logger.

    Its lines also reach the root logger's handlers where an embedding program set some (pytest's
    ``caplog`` among them); the root has none in a tlcompare process, so nothing prints twice."""
    logger = logging.getLogger("tlcompare")
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter(FORMAT, DATEFMT))
        logger.addHandler(handler)
        logger.setLevel(level)
    return logger
