"""A reused run keeps the record of where it trained; the experiment's own environment is where
its runs train now, not a copy from the experiment it reuses."""

from test_store import fake_result, make_spec

from tlcompare.analysis import frames as analysis
from tlcompare.store import Store


def train_on(store: Store, machine: str, device: str) -> None:
    while (claimed := store.claim("w")) is not None:
        store.run_started(claimed["run_id"], "w", claimed["attempt"], "cpu", {"device": device, "torch_threads": 2})
        store.finish_run(claimed["run_id"], "w", claimed["attempt"], {**fake_result(claimed), "machine": machine})


def test_reused_runs_keep_their_machine_and_the_experiment_records_its_own(tmp_path):
    store = Store(tmp_path / "t.db")
    first = store.create_experiment(make_spec(seeds=[0]))
    train_on(store, "CPU A (8 threads)", "CPU A (8 threads)")

    # All reused: the environment is the first experiment's, marked as a copy.
    copy = store.create_experiment(make_spec(seeds=[0]))
    env = store.get_experiment(copy)["environment"]
    assert env["device"] == "CPU A (8 threads)" and env["copied_from_experiment"] == first

    # Partly reused: once a run trains here, the environment is this machine's.
    mixed = store.create_experiment(make_spec(seeds=[0, 1]))
    assert store.get_experiment(mixed)["environment"]["copied_from_experiment"] == first
    train_on(store, "CPU B (2 threads)", "CPU B (2 threads)")
    env = store.get_experiment(mixed)["environment"]
    assert env["device"] == "CPU B (2 threads)" and "copied_from_experiment" not in env

    runs = store.experiment_runs(mixed)
    machines = {(r["seed"], r["reused_from"] is not None): r["machine"] for r in runs}
    assert set(machines.items()) == {((0, True), "CPU A (8 threads)"), ((1, False), "CPU B (2 threads)")}
    # Time comparisons stay on one machine: the reused seed-0 runs are left out, not averaged in.
    times = analysis.training_time(analysis.runs_frame(runs))
    assert set(times["machine"]) == {"CPU B (2 threads)"} and times.attrs["left_out"] == len(runs) // 2
