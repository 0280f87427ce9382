"""tune = "lr-ends": the second phase of an experiment, queued inside the transaction that finishes
its first.

Such an experiment is created with the grids of learning rates at its smallest and largest size only.
When every one of those runs has ended (and none waits on a cancel), the runs of the sizes between are
queued, each arm at the rate interpolated between its two ends' choices on validation
(``analysis/tuning.held_rates``). Doing it in ``refresh_status`` means every way a run ends (trained by
any worker or Ray actor, linked to an identical finished run, failed) releases them, and the
experiment never reads "done" between the two phases. An arm whose end had no finished rate gets its
middle runs as failed runs that say why, so the experiment ends and says so.
"""

from __future__ import annotations

import json
import sqlite3
import time

from tlcompare.store.rows import FINISHED, add_runs, freeze_from_json, run_rows


def release_held(con: sqlite3.Connection, experiment_id: int) -> None:
    from tlcompare.analysis.tuning import held_rates
    from tlcompare.spec import spec_from_dict

    row = con.execute("SELECT spec FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
    try:
        spec = spec_from_dict(json.loads(row["spec"]))
    except Exception:  # a damaged spec: the claim fails its runs with the reason (queue._spec_damage)
        return
    if spec.tune != "lr-ends" or not spec.middle_sizes:
        return
    middle = sorted(set(spec.middle_sizes))
    marks = ",".join("?" * len(middle))
    if con.execute(f"SELECT 1 FROM runs WHERE experiment_id = ? AND size IN ({marks}) LIMIT 1",
                   (experiment_id, *middle)).fetchone():
        return  # released already (a cheap look: this runs at every status refresh of the experiment)
    ended = (*FINISHED, "failed")  # not cancelled: a cancelled end waits for the user to resume it
    if con.execute(f"SELECT 1 FROM runs WHERE experiment_id = ? AND status NOT IN ({','.join('?' * len(ended))}) "
                   "LIMIT 1", (experiment_id, *ended)).fetchone():
        return  # an end still trains, or waits for the user to resume it
    rows = con.execute("SELECT arm, freeze, size, lr, status, final, force, position FROM runs "
                       "WHERE experiment_id = ?", (experiment_id,)).fetchall()
    if not rows:
        return
    end_runs = []
    for r in rows:
        try:
            final = json.loads(r["final"]) if r["final"] else {}
        except ValueError:
            final = {}
        end_runs.append({"arm": r["arm"], "freeze": freeze_from_json(r["freeze"]), "size": r["size"], "lr": r["lr"],
                         "status": r["status"], "final": final if isinstance(final, dict) else {}})
    rates = held_rates(end_runs, spec.middle_sizes)
    held = list(enumerate(spec.held_runs(rates), max(r["position"] for r in rows) + 1))
    chosen = [(pos, run) for pos, run in held if (run.arm, repr(run.freeze)) in rates]
    unchosen = [(pos, run) for pos, run in held if (run.arm, repr(run.freeze)) not in rates]
    now = time.time()
    add_runs(con, run_rows(experiment_id, chosen, any(r["force"] for r in rows), now))
    # Forced, so never linked to another result: they did not train, and say why.
    add_runs(con, run_rows(experiment_id, unchosen, True, now))
    ends = " and ".join(str(s) for s in (min(spec.sizes), max(spec.sizes)))
    for pos, _ in unchosen:
        con.execute(
            "UPDATE runs SET status = 'failed', finished_at = ?, error = ? WHERE experiment_id = ? AND position = ?",
            (now, f"no learning rate to interpolate: no rate of this arm's grid finished at {ends}/class "
                  "(see those runs' errors)", experiment_id, pos))
