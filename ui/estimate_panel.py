"""The time estimate of the New experiment form, which never holds the page.

The throughput probe runs in its own process (``tlcompare.estimate.background``). Until its result is
in the cache, the panel says "measuring…" inside a fragment that looks again every second and
reruns the page once the figure is there; the rest of the form stays usable meanwhile.
"""

from __future__ import annotations

import streamlit as st

from tlcompare.data.facts import DatasetFacts
from tlcompare.estimate import words as estimate_text
from tlcompare.estimate.background import ProbeState, throughput_or_start
from tlcompare.estimate.runtime import Estimate, estimate, machine_busy_note
from tlcompare.presets import matching_preset
from tlcompare.spec import ExperimentSpec, RunSpec
from tlcompare.text.escape import markdown_safe
from tlcompare.worker.control import worker_state
from ui.state import store

POLL_SECONDS = 1.0
# A metric cuts a long value with an ellipsis ("measuri…" in the 230 px cost column at 1024 px): the
# words that stand for a figure not known yet wrap in a smaller size instead.
_STATUS_CSS = ("<style>.st-key-estimate_status [data-testid='stMetricValue'], "
               ".st-key-estimate_status [data-testid='stMetricValue'] * { font-size: 1.6rem !important; "
               "white-space: normal !important; overflow: visible !important; text-overflow: clip !important; }</style>")


def status_metric(words: str) -> None:
    """The estimate's place while its figure is not known: 'measuring…', 'reading the dataset…'."""
    with st.container(key="estimate_status"):
        st.html(_STATUS_CSS)
        st.metric("Estimated time", words)


def _probes(spec: ExperimentSpec, runs: list[RunSpec], remeasure: bool = False) -> dict[tuple, ProbeState]:
    # One probe per model and resolution: a resolution sweep's runs each get their own speed.
    return {(m, size): throughput_or_start(m, size, spec.batch_size, spec.device, remeasure=remeasure)
            for m, size in sorted({(r.model, r.experiment.image_size) for r in runs})}


def render(spec: ExperimentSpec, runs: list[RunSpec], facts: DatasetFacts, n_stages: int, gpu: bool) -> Estimate | None:
    """Draw the estimate (or "measuring…"); return it, None while measuring."""
    probes = _probes(spec, runs, remeasure=st.session_state.pop("remeasure_now", False))
    failed = [p.failed for p in probes.values() if p.failed]
    if failed:
        status_metric("unknown")
        st.warning(f"Measuring this machine's speed failed: {markdown_safe(failed[0])}", icon=":material/error:")
        _measure_again_button()
        return None
    if any(p.throughput is None for p in probes.values()):
        _waiting(spec, runs)
        return None
    tps = {key: p.throughput for key, p in probes.items()}
    worker = worker_state(store=store())
    est = estimate(spec, tps, facts.num_classes, facts.n_val, facts.n_test, n_stages, worker_running=worker["alive"],
                   n_images=sum(facts.pool_counts) + facts.n_val + facts.n_test,
                   finished=store().reusable([r.config_hash() for r in runs]))
    figure = estimate_text.figure(est)
    st.metric("Estimated time", figure, help="From a few training steps measured on this machine, for the runs that "
                                             "will train; identical runs that finished before are reused.")
    for line in estimate_text.counted(est, spec):
        st.caption(line)
    tp = tps[(spec.model, spec.image_size)]
    st.caption(f"Measured here ({markdown_safe(tp.device)}, {spec.image_size} px): {tp.images_per_second(0.0):,.0f} "
               f"training images/s fine-tuning everything, {tp.images_per_second(1.0):,.0f} as a linear probe.")
    busy = _busy(tps)
    advice = estimate_text.advice(spec, est, matching_preset(spec), gpu, busy)
    if advice:  # names the busy machine first when it is one
        st.warning(advice, icon=":material/schedule:")
    elif busy:
        st.caption(f":orange[{busy}]")
    _measure_again_button()
    return est


def _busy(tps: dict) -> str | None:
    """Other programs named as the cause when they kept the machine busy while the probe measured.

    Only then: the load average would also count this dashboard, its browser and the probe itself,
    and blame "other programs" on a quiet machine.
    """
    return machine_busy_note(max(tp.others_busy_cores for tp in tps.values()))


def _measure_again_button() -> None:
    st.button("Measure again", type="tertiary", icon=":material/speed:", key="remeasure",
              on_click=lambda: st.session_state.update(remeasure_now=True))


def _waiting(spec: ExperimentSpec, runs: list[RunSpec]) -> None:
    @st.fragment(run_every=POLL_SECONDS)
    def measuring() -> None:
        status_metric("measuring…")
        st.caption(f"Measuring this machine's speed ({spec.image_size} px): a few training steps in the background, "
                   "once per model and image size. The form stays usable meanwhile.")
        if all(p.throughput is not None or p.failed for p in _probes(spec, runs).values()):
            st.rerun(scope="app")  # the figure is ready: draw it everywhere it appears

    measuring()
