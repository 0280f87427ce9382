"""The estimate in words, for the New experiment form: the figure, what it counts, and advice.

One estimate feeds every time figure of the form (the preset's caption, the cost panel, the
advice), so none of them can contradict another.
"""

from __future__ import annotations

from tlcompare.estimate.runtime import Estimate
from tlcompare.spec import ExperimentSpec
from tlcompare.text.summaries import duration

LONG_ON_CPU = 1800  # seconds: past this a CPU-only user hears what would make it shorter
TOO_LONG = 24 * 3600  # seconds: past this the form asks before it starts


def figure(est: Estimate) -> str:
    """'about 12 min', 'at least 12 min' (budget converged), or that nothing needs training."""
    if est.n_reused == est.n_runs:
        return "nothing to train"
    return f"{'at least' if est.minimum else 'about'} {duration(est.seconds)}"


def counted(est: Estimate, spec: ExperimentSpec) -> list[str]:
    """What the figure includes and leaves out, one sentence each."""
    lines = []
    if est.n_reused:
        lines.append(f"{est.n_reused} of {est.n_runs} runs already finished with identical settings: their results "
                     f"are reused, not trained again, and the time counts only the other {est.n_runs - est.n_reused}.")
    if est.minimum and est.n_reused < est.n_runs:
        least = f"{spec.min_steps} optimizer steps" if spec.min_steps is not None else f"{spec.epochs} epochs"
        lines.append(f"A minimum: under 'until converged' each run trains at least {least}, then on "
                     f"until its validation accuracy stops improving (at most {spec.max_epochs} epochs). How much "
                     "longer is what the experiment finds out.")
    return lines


def advice(spec: ExperimentSpec, est: Estimate, preset: str | None, gpu: bool, busy: str | None) -> str | None:
    """What would shorten a long experiment on a CPU, naming only what is not chosen already."""
    if gpu or est.seconds <= LONG_ON_CPU:
        return None
    options = []
    if preset != "cpu_quick":
        options.append("the quick preset")
    if len(spec.sizes) > 1:
        options.append("fewer sizes")
    if len(spec.seeds) > 1:
        options.append("fewer seeds")
    if spec.image_size > 32:
        options.append("a smaller image size")
    if spec.budget == "converged" and spec.min_steps is None and spec.max_epochs > spec.epochs:
        options.append("a lower epoch cap")
    options.append("a GPU machine")
    text = f"Long on this CPU: try {', '.join(options[:-1])} or {options[-1]}." if len(options) > 1 else \
        f"Long on this CPU: try {options[0]}."
    return f"{busy} {text}" if busy else text


def too_long(est: Estimate | None) -> str | None:
    """A run time nobody means to start by accident (hundreds of hours), said before Start."""
    if est is None or est.seconds <= TOO_LONG:
        return None
    days = f" (about {est.seconds / 86400:.0f} days)" if est.seconds >= 2 * 86400 else ""
    return (f"This experiment would train for {figure(est)} on this machine{days}: check the sizes, seeds and "
            "epochs, or run it on a GPU machine.")
