"""What every page shares: one Store per TLCOMPARE_HOME, and the experiment the user is looking at.

The chosen experiment lives in the URL (``?exp=3``) as well as in the session, so a refresh, a
bookmark or a second tab opens the same experiment, and moving between pages keeps it.
"""

from __future__ import annotations

import os
import sqlite3

import streamlit as st

from tlcompare.errors import UserError
from tlcompare.store import Store, default_path
from tlcompare.store.errors import StoreError, store_problem
from tlcompare.text.escape import markdown_safe, printable
from tlcompare.text.setup import dataset_title, model_title

ACTIVE = ("running", "queued", "cancelling")


@st.cache_resource(show_spinner=False)
def _store(path: str) -> Store:
    return Store(path)


def store() -> Store:
    """The store, or StoreError with the one line every page shows for a file it cannot use."""
    try:
        # Keyed by path: TLCOMPARE_HOME decides which store, as it does for the CLI and the worker.
        return _store(str(default_path()))
    except (OSError, sqlite3.Error, UserError) as e:  # not cached: the next rerun tries again
        raise StoreError(store_problem(store_path(), e)) from None


def store_path() -> str:
    """Where the store is, even when its folder cannot be created (no mkdir here)."""
    home = os.environ.get("TLCOMPARE_HOME", os.path.join("~", ".tlcompare"))  # as tlcompare.home reads it
    return os.path.join(os.path.expanduser(home), "tlcompare.db")


def remember_experiment(experiment_id: int | None) -> None:
    if experiment_id is None:
        return
    st.session_state["experiment_id"] = int(experiment_id)
    st.query_params["exp"] = str(experiment_id)


def _is_id(text) -> bool:
    # ASCII digits only ('²' is a digit to isdigit, not to int) and at most 18 of them (5,000 digits
    # would pass isdigit and make int() raise; no experiment id is that long).
    text = str(text)
    return text.isascii() and text.isdigit() and len(text) <= 18


def requested_experiment_id() -> int | None:
    text = st.query_params.get("exp")
    if text is not None and _is_id(text):
        return int(text)
    return st.session_state.get("experiment_id")


def not_found_note(text: str | None, asked: int | None, shown: int | None) -> str | None:
    """Why the page shows #``shown`` (None: nothing) and not what was asked for: the address named no
    experiment, or one that is gone. None when nothing was asked for."""
    if text is not None and not _is_id(text):
        problem = f"'{markdown_safe(printable(str(text), 40))}' in the address is not an experiment number."
    elif asked is not None:
        problem = f"There is no experiment #{asked}: it was deleted (perhaps in another tab) or never existed."
    else:
        return None
    return problem if shown is None else f"{problem} Showing #{shown}; pick another below."


def experiment_label(e: dict, with_status: bool = True) -> str:
    pin = " ★" if e["pinned"] else ""
    status = f" · {e['status']} · {e['n_done']}/{e['n_runs']} runs" if with_status else ""
    data = printable(dataset_title({"dataset": e["dataset"]}), 80)
    return f"#{e['id']} {printable(e['name'], 80)}{pin} · {data} · {model_title(e['model'])}{status}"


def pick_experiment(experiments: list[dict], key: str, prefer: str = "active", with_status: bool = True) -> dict | None:
    """A selectbox of experiments, starting at the one in the URL or session, else a sensible default.

    ``prefer="active"``: the newest running or queued experiment (the Live page);
    ``prefer="results"``: the newest with finished runs (Results, Report).
    """
    if not experiments:
        note = not_found_note(st.query_params.get("exp"), requested_experiment_id(), None)
        if note:
            st.info(note, icon=":material/search_off:")
        return None
    by_id = {e["id"]: e for e in experiments}
    asked = chosen = requested_experiment_id()
    if chosen not in by_id:
        newest_first = sorted(experiments, key=lambda e: e["id"], reverse=True)
        wanted = [e for e in newest_first if (e["status"] in ACTIVE if prefer == "active" else e["n_finished"] > 0)]
        chosen = (wanted or newest_first)[0]["id"]
    # Never show another experiment silently in place of the one asked for.
    note = not_found_note(st.query_params.get("exp"), None if asked in by_id else asked, chosen)
    if note:
        st.info(note, icon=":material/search_off:")
    ids = [e["id"] for e in experiments]

    def on_change() -> None:
        remember_experiment(st.session_state[key])

    st.session_state[key] = chosen
    st.selectbox("Experiment", ids, format_func=lambda i: experiment_label(by_id[i], with_status), key=key,
                 on_change=on_change)
    remember_experiment(chosen)
    return by_id[chosen]


def experiment_or_stop(page: str, prefer: str, empty: str, with_status: bool = True) -> tuple[list[dict], dict]:
    """Every experiment and the one picked at the top of ``page``; with none yet, say ``empty``,
    point to New experiment and end the page there."""
    from ui import paths

    experiments = store().list_experiments()
    with st.container(key=f"controls_{page}"):
        experiment = pick_experiment(experiments, key=f"{page}_experiment", prefer=prefer, with_status=with_status)
    if experiment is None:
        st.info(empty, icon=":material/hourglass_empty:")
        st.page_link(paths.NEW, label="New experiment", icon=":material/add_circle:")
        st.stop()
    return experiments, experiment


def experiment_progress(experiment_id: int) -> dict:
    """The store's progress of an experiment. One deleted meanwhile (in another tab, from the command
    line) reruns the whole page, which then says so calmly instead of showing an error."""
    return unless_deleted(experiment_id, lambda: store().experiment_progress(experiment_id))


def unless_deleted(experiment_id: int, read):
    """``read()``; if it fails because the experiment was deleted meanwhile, rerun the whole page."""
    try:
        return read()
    except UserError:
        if store().get_experiment(experiment_id) is None:
            st.rerun(scope="app")
        raise


def pinned_baseline(experiments: list[dict], current_id: int | None) -> dict | None:
    """The experiment pinned in History as the baseline, unless it is the one being looked at."""
    return next((e for e in experiments if e["pinned"] and e["id"] != current_id), None)
