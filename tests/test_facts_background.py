"""A dataset's facts are read in a process of their own: the asking call answers at once, a second
ask while reading starts nothing new, and the answer is the real split's."""

from __future__ import annotations

import time

import pytest

from tlcompare.data import facts_background as fb
from tlcompare.data.facts import dataset_facts

SPLIT = ("digits", None, 0.1, 0.2, 0)


@pytest.fixture(autouse=True)
def nothing_known():
    """Each test starts as a fresh dashboard process would: nothing read yet."""
    fb._known.clear()
    yield
    fb._known.clear()


def wait_until_read(*args, timeout: float = 180) -> fb.FactsState:
    deadline = time.time() + timeout
    state = fb.facts_or_start(*args)
    while state.reading and time.time() < deadline:
        time.sleep(0.3)
        state = fb.facts_or_start(*args)
    return state


@pytest.mark.slow  # a reader process that imports torch
def test_facts_are_read_in_the_background_then_answered_at_once():
    started = time.monotonic()
    first = fb.facts_or_start(*SPLIT)
    asked_in = time.monotonic() - started
    assert first.reading and first.facts is None
    assert asked_in < 2.0  # it started a process, it did not read (that imports torch and decodes)
    assert len(fb._started) == 1
    again = fb.facts_or_start(*SPLIT)  # another tab, or the page's next poll, while it reads
    assert again.reading and len(fb._started) == 1  # no second read of the same dataset
    done = wait_until_read(*SPLIT)
    assert not done.reading and done.failed is None
    assert done.facts == dataset_facts("digits")  # the real split's sizes, as read in this process


@pytest.mark.slow  # a reader process that imports torch
def test_a_builtin_dataset_is_read_once_per_machine():
    wait_until_read(*SPLIT)
    fb._known.clear()  # a new dashboard process
    fb._started.clear()
    state = fb.facts_or_start(*SPLIT)
    assert state.facts is not None and not state.reading and not fb._started  # from the disk cache


@pytest.mark.slow  # a reader process that imports torch
def test_a_failed_read_says_why_and_can_be_retried(tmp_path):
    folder = tmp_path / "photos"
    for name in ("cats", "dogs"):
        (folder / name).mkdir(parents=True)
        (folder / name / "a.jpg").write_bytes(b"not a jpeg at all")
    source = (f"imagefolder:{folder}", None, 0.1, 0.2, 0)
    state = wait_until_read(*source)
    assert state.facts is None and not state.reading
    assert state.failed, "a read that fails must say why, not read forever"
    again = fb.facts_or_start(*source)
    assert again.failed == state.failed and not again.reading  # said again, not read again by itself
    fb.forget(*source)
    assert fb.facts_or_start(*source).reading  # asked to retry: it reads again
    wait_until_read(*source)
