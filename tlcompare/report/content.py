"""What a report says about each experiment, read from the store once and shared by every format.

No plotly here: the CSV, JSON, Markdown and LaTeX exports run wherever the engine runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property

import tlcompare
from tlcompare.analysis.view import FINISHED, ResultsView, analyse
from tlcompare.errors import UserError
from tlcompare.store.rows import result_keys
from tlcompare.text.setup import WALL_VS_TRAINING, budget_words, dataset_title, seeds_text
from tlcompare.text.summaries import duration

# Store bookkeeping worth keeping in an export beside the RunResult fields; the rest (heartbeats,
# claim state, tracebacks) says how the queue ran, not what the run measured.
STORE_FIELDS = ("run_id", "attempts", "reused_from", "worker_id", "started_at", "finished_at")


@dataclass
class ExperimentReport:
    id: int
    name: str
    notes: str
    created: float
    status: str
    spec: dict
    environment: dict
    runs: list[dict] = field(repr=False)
    fingerprint_note: str | None = None  # set when the fingerprint was not recorded at training time

    @property
    def label(self) -> str:
        return f"#{self.id} {self.name}"

    @property
    def dataset_name(self) -> str:
        """The dataset's own name (a folder's name, not its full path) for captions and headings."""
        return str(self.environment.get("dataset") or self.spec.get("dataset"))

    @cached_property
    def view(self) -> ResultsView:
        """The analysed experiment, the same object the Results page and ``tlcompare show`` read."""
        return analyse(self.runs, self.spec, self.environment)

    @property
    def finished(self) -> list[dict]:
        return self.view.finished

    def export_runs(self) -> list[dict]:
        """Every run as the store holds it: RunResult fields in their order, then store bookkeeping."""
        out = []
        for r in self.runs:
            row = {"run_id": r["run_id"]}
            row.update({k: r.get(k) for k in result_keys(r)})
            row.update({k: r.get(k) for k in STORE_FIELDS if k != "run_id"})
            out.append(row)
        return out

    def manifest(self) -> list[tuple[str, str]]:
        """What a reader needs to reproduce or trust the numbers, as (label, value) rows."""
        env, spec = self.environment, self.spec
        classes = env.get("class_names") or []
        pool = env.get("pool_per_class") or []
        fingerprint = env.get("dataset_fingerprint") or "not recorded"
        if self.fingerprint_note:
            fingerprint = f"{fingerprint} ({self.fingerprint_note})"
        rows = [
            ("tlcompare (training)", env.get("tlcompare")),
            ("torch", env.get("torch")),
            ("torchvision", env.get("torchvision")),
            ("Python", env.get("python")),
            ("device", env.get("device") and env["device"] + (
                f" (recorded by experiment {env['copied_from_experiment']}, whose runs this one reuses)"
                if env.get("copied_from_experiment") else "")),
            ("torch threads", env.get("torch_threads")),
            ("training budget", _budget_text(spec)),
            ("dataset", _dataset_text(spec, env)),
            ("dataset licence", env.get("dataset_licence")),
            ("dataset fingerprint", fingerprint),
            *_content_key_rows(spec),
            ("classes", f"{len(classes)}: {', '.join(map(str, classes))}" if classes else None),
            ("training pool per class", f"{min(pool)} to {max(pool)}" if pool else None),
            _split_row(spec, env),
            ("seeds", seeds_text(spec.get("seeds", []))),
            ("split seed", spec.get("split_seed")),
        ]
        if isinstance(env.get("wall_seconds"), int | float):  # only `tlcompare run` measures it
            rows.append(("wall time", f"{duration(env['wall_seconds'])} ({WALL_VS_TRAINING})"))
        return [(k, "not recorded" if v is None or v == "" else str(v)) for k, v in rows]


def _split_row(spec: dict, env: dict) -> tuple[str, str | None]:
    """The validation and test images. Under within the held-out set (``n_val``) chose nothing: the
    validation images are a fifth of each run's labelled images (the verdict's line gives the counts)."""
    if spec.get("validation") == "within":
        return ("validation / test images", f"within the labelled images, a fifth of N per class (at least 1) / "
                                            f"{env['n_test']}" if "n_test" in env else None)
    return ("validation / test images", f"{env['n_val']} / {env['n_test']}" if "n_val" in env and "n_test" in env else None)


def _dataset_text(spec: dict, env: dict) -> str | None:
    """'Handwritten digits (scikit-learn) (digits)': the title people read, then the name the command line takes."""
    source = spec.get("dataset")
    title = dataset_title(spec, env)
    return source if not source or title == source else f"{title} ({source})"


def _content_key_rows(spec: dict) -> list[tuple[str, str]]:
    """Own images and local checkpoints: the content the runs were keyed on (reuse follows it)."""
    rows = []
    if spec.get("source_key"):
        rows.append(("dataset content key", f"{spec['source_key']} (file names, sizes and times when queued; "
                                            "an edited folder or archive gets new runs)"))
    if spec.get("weights"):
        rows.append(("checkpoint", spec["weights"]))
        rows.append(("checkpoint content key", spec.get("weights_key") or "not recorded (runs keyed by path)"))
    return rows


def _budget_text(spec: dict) -> str:
    return f"{spec.get('budget') or 'epochs'}: {budget_words(spec)}"


def _fingerprint_now(spec: dict) -> str | None:
    """The fingerprint of the data as it is on this machine now, for experiments from before it was
    recorded; None where getting the data would mean a download or a long decode of unknown files."""
    from tlcompare.data import DATASETS, check_source, load_dataset
    from tlcompare.data.fingerprint import dataset_fingerprint
    from tlcompare.data.sources import parse_source

    name, root = spec.get("dataset"), spec.get("data_root")
    try:
        if name in DATASETS:
            if DATASETS[name].unavailable_reason(root) is not None:
                return None
        elif parse_source(name).kind == "torchvision" or check_source(name) is not None:
            return None
        return dataset_fingerprint(load_dataset(name, root, image_size=spec.get("image_size")))
    except Exception:  # a report without this line beats no report
        return None


def load_experiment(store, experiment_id: int, fingerprint_fallback: bool = True) -> ExperimentReport:
    exp = store.get_experiment(experiment_id)
    if exp is None:
        raise UserError(f"no experiment {experiment_id} (see `tlcompare ls`)")
    rep = ExperimentReport(id=exp["id"], name=exp["name"], notes=exp.get("notes") or "", created=exp["created"],
                           status=exp["status"], spec=exp["spec"], environment=dict(exp.get("environment") or {}),
                           runs=store.experiment_runs(experiment_id, test_correct=True))
    if fingerprint_fallback and any(r["status"] in FINISHED for r in rep.runs) and not rep.environment.get("dataset_fingerprint"):
        now = _fingerprint_now(rep.spec)
        if now:
            rep.environment["dataset_fingerprint"] = now
            rep.fingerprint_note = "of the data on this machine when the report was made; not recorded at training"
    return rep


def load_experiments(store, ids, fingerprint_fallback: bool = True) -> list[ExperimentReport]:
    ids = list(dict.fromkeys(int(i) for i in ids))  # the same experiment twice would only repeat itself
    if not ids:
        raise UserError("a report needs at least one experiment id (see `tlcompare ls`)")
    return [load_experiment(store, i, fingerprint_fallback) for i in ids]


def generated_line() -> str:
    return f"Generated {time.strftime('%Y-%m-%d %H:%M %Z')} by tlcompare {tlcompare.__version__}"
