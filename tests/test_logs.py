"""One logging setup: the worker's lines and the data cache's warnings reach stderr timestamped, in the
same format, through the CLI's setup; setting it up twice prints nothing twice."""

import logging
import re

from helpers import tlc

from tlcompare.logs import setup
from tlcompare.worker.process import _log_stderr

STAMPED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|WARNING) tlcompare\.(worker|data): ")


def test_worker_and_data_cache_lines_are_timestamped_once_each(capsys):
    setup()
    setup()
    _log_stderr("worker w1: started")
    logging.getLogger("tlcompare.data").warning("could not write the dataset cache %s", "x.pt")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    assert all(STAMPED.match(line) for line in lines), lines
    assert lines[0].endswith("worker w1: started") and lines[1].endswith("could not write the dataset cache x.pt")


def test_the_cli_sets_it_up_and_its_own_errors_stay_one_plain_line(capsys):
    logging.getLogger("tlcompare").handlers.clear()  # as in a fresh process
    p = tlc("resume", "999", capsys=capsys)
    assert p.returncode == 2 and p.stderr.strip().splitlines() == [p.stderr.strip()]
    assert p.stderr.startswith("tlcompare: error: ")  # what the user reads: no timestamp in front
    _log_stderr("after the CLI")
    assert STAMPED.match(capsys.readouterr().err)
