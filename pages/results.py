"""Results: the verdict in one sentence, then the evidence, one chart per question."""

import streamlit as st

from tlcompare.analysis import frames as analysis
from tlcompare.analysis.label_multiplier import target_line
from tlcompare.analysis.view import FINISHED
from tlcompare.charts import figures as charts
from tlcompare.charts.multiplier import hint as multiplier_hint
from tlcompare.charts.multiplier import label_multiplier_chart
from tlcompare.live.table import cancelled_note
from tlcompare.report.content import ExperimentReport
from tlcompare.text.escape import markdown_safe, printable
from tlcompare.text.headline import card_help, card_note, headline
from tlcompare.text.setup import WALL_VS_TRAINING, setup_line
from tlcompare.text.stages import describe_stages
from tlcompare.text.summaries import duration
from ui import cached, overfit_view, paths, presentation
from ui.frame import ensure_frame
from ui.kept import keep, kept, kept_index
from ui.resume import resume_button
from ui.state import experiment_or_stop, pinned_baseline

ensure_frame()

large = presentation.is_on()
# theme=None: the figures keep their own look, the same as in an exported report.
TABS = ("The answer", "Freezing depth", "Learning curves", "Overfitting", "Time", "Mistakes")
PLOT = {"theme": None, "config": {"displaylogo": False, "toImageButtonOptions": {"scale": 2}}}


def chart(fig, hint: str, key: str) -> None:
    st.plotly_chart(charts.at_resolution(fig, spec["image_size"]), key=key, **PLOT)
    st.caption(f":material/lightbulb: {hint}")


if not large:  # on a projector the verdict is the heading: the room reads it first, and the first chart fits
    st.title("Results")
experiments, experiment = experiment_or_stop(
    "results", prefer="results", empty="No experiments yet: the charts appear here once runs finish.")

key = cached.stamp(experiment)  # every frame and figure below is computed once per experiment content
view = cached.view(key, experiment)  # the analysed experiment: the report and `tlcompare show` read the same
runs, finished = view.runs, view.finished
if any(r["status"] == "cancelled" for r in runs):
    st.warning(cancelled_note(runs), icon=":material/stop_circle:")
    resume_button(experiment["id"], key="resume")
    if not finished:
        st.stop()
if not finished:
    st.info("No run of this experiment has finished yet.", icon=":material/hourglass_top:")
    st.page_link(paths.LIVE, label="Watch it train", icon=":material/monitoring:",
                 query_params={"exp": str(experiment["id"])})
    st.stop()

spec = experiment["spec"]
frame = view.frame
environment = experiment.get("environment") or {}
class_names = environment.get("class_names") or []
# Stage names in words from a torch-free table (the model registry imports torch, and a page that only
# reads the store must not); a model not in it: the names its runs froze. Depths no run froze show as numbers.
stage_names = describe_stages(spec["model"], spec["image_size"]) or max(
    (r.get("frozen_stages") or [] for r in finished), key=len, default=[])

# -- the verdict --------------------------------------------------------------------------------------
# One sentence first (who wins at which size, by how much, K), its caveats on a line of their own in
# smaller type, the cards; the rest of the verdict folds away so the first chart is on the first screen.
pending = experiment["n_runs"] - experiment["n_finished"]
judged, multiplier = view.verdict, view.multiplier
cached.keep(key, experiment, view)  # computed here: the next first look reads it from the store
lead = headline(view)
# Training time of the runs trained for this experiment; runs reused from another one are counted apart.
def _seconds(r: dict) -> float:
    return float((r.get("final") or {}).get("train_seconds") or 0)


# Every finished run counts, the rates a tuned grid did not choose too: they are what the answer cost.
every = [r for r in runs if r["status"] in FINISHED]
reused = sum(_seconds(r) for r in every if r.get("reused_from"))
trained_here = sum(_seconds(r) for r in every if not r.get("reused_from"))
time_text = duration(trained_here) + (f" (+ {duration(reused)} reused)" if reused else "")
compared_note = f"{len(finished)} compared" if len(every) != len(finished) else None  # short: a pill cuts long text
with st.container(border=not large, key="verdict"):
    runs_text = f"{len(every)} runs" + (f", {pending} still to run" if pending else "")
    # On a projector the run count and training time join the setup line: the gain cards get the width.
    st.caption(markdown_safe(setup_line(spec, environment) + (f" · {runs_text} · {time_text} training" if large else "")))
    st.markdown(f"### {markdown_safe(lead.sentence)}")
    if lead.caveats:
        st.caption(f":material/info: {markdown_safe(lead.caveats)}")
    edge = view.tuning.edge_warning()
    if edge:  # on the first screen: the rates themselves are listed under "The verdict in full"
        st.warning(f"Learning rates: {markdown_safe(edge)}", icon=":material/warning:")
    best = view.best
    if not best.empty:
        n_comparisons = int(judged.comparisons["p_holm"].notna().sum())
        k = judged.comparisons["variant"].nunique()
        shown = best.iloc[[0, -1]] if len(best) > 1 else best
        cols = st.columns(len(shown) + (0 if large else 2))
        for col, (_, r) in zip(cols, shown.iterrows(), strict=False):
            name = r["variant"].removeprefix("pretrained, ")
            col.metric(f"{name[0].upper() + name[1:]}, {int(r['size'])} per class", f"{100 * r['mean_diff']:+.1f} pts",
                       help=card_help(r, k, n_comparisons))
            col.caption(markdown_safe(card_note(r, n_comparisons)))  # wraps: a pill under the value would cut it
        if not large:
            cols[-2].metric("Runs", f"{len(every)}", delta="; ".join(
                filter(None, [f"{pending} still to run" if pending else None, compared_note])) or None,
                            delta_color="off", delta_arrow="off", help=compared_note and (
                                f"Every finished run, the learning rates the grid did not choose too. The comparisons "
                                f"read the {len(finished)} runs of each arm's chosen rate per size."))
            cols[-1].metric("Training time", duration(trained_here), help=WALL_VS_TRAINING + (
                " Runs reused from earlier experiments are not counted: they trained there." if reused else ""),
                            delta=f"{duration(reused)} more reused" if reused else environment.get("device"),
                            delta_color="off", delta_arrow="off")

baseline = pinned_baseline(experiments, experiment["id"])
baseline_view = None  # the pinned experiment, drawn dotted on every chart where it compares
if baseline is not None:
    baseline_view = cached.view(cached.stamp(baseline), baseline)
    if not any(r["status"] == "done" for r in baseline_view.runs):
        baseline_view = None
baseline_summary = baseline_view.summary if baseline_view is not None else None
baseline_key = baseline and cached.stamp(baseline)
baseline_label = f"baseline #{baseline['id']}" if baseline else "baseline"
baseline_note = (f"The baseline, #{baseline['id']} {markdown_safe(baseline['name'])} (pinned in History): dotted lines "
                 "with open markers, or a diamond on the bar of the same variant.") if baseline_view is not None else ""

# Only the open tab is computed (the others cost nothing until chosen), and the open tab is in the URL:
# /results?exp=3&tab=Time opens on Time, and a bookmark or a link in a design doc keeps it.
# The closed tabs' widgets keep their values apart (ui/kept.py): a chosen target or size survives a
# look at another tab.
answer_tab, depth_tab, curves_tab, overfit_tab, time_tab, errors_tab = st.tabs(
    list(TABS), key="tab", bind="query-params")

with answer_tab:
    if answer_tab.open:
        chart(cached.memo(key, ("multiplier", large), lambda: label_multiplier_chart(frame, multiplier.table, large=large)),
              multiplier_hint(multiplier.table), "multiplier")
        with st.expander("The verdict in full: every size, the label multiplier, labels to a target, the budget"):
            st.markdown(f"**{markdown_safe(judged.answer)}**")
            for line in judged.lines:
                st.markdown(f"- {markdown_safe(line)}")
            if judged.method:
                st.caption(markdown_safe(judged.method))
            if multiplier.lead:
                st.markdown(f"**{markdown_safe(multiplier.lead)}**")
                for line in multiplier.all_lines:
                    st.markdown(f"- {markdown_safe(line)}")
                st.caption(markdown_safe(multiplier.method))
            else:
                st.caption(f":material/info: {markdown_safe(multiplier.missing)}")
            for caveat in judged.caveats:
                if not caveat.startswith("Budget:"):  # said once, below, with how long the runs trained and why they stopped
                    st.caption(f":material/info: {markdown_safe(caveat)}")
            st.caption(f":material/timer: {view.budget}")
            if view.flag_lines:
                with st.container(key="convergence_flags"):
                    st.warning(view.flags_summary, icon=":material/warning:")
                    st.markdown(f"**Runs that did not finish learning ({int((view.flags['flag'] != '').sum())}) and the fix**")
                    for line in view.flag_lines:  # our own words: variant names, numbers, fixes
                        st.markdown(f"- {line}")
            if view.controls:
                st.markdown("**Pretrained vs random features (the control arm)**")
                for line in view.controls:
                    st.markdown(f"- {line}")
        if not multiplier.targets.empty:
            default_goal = float(multiplier.targets["target_acc"].iloc[0])
            with st.container(key="controls_labels_target"):
                goal = st.number_input("Labels to reach a test accuracy of (%)", 1.0, 100.0, step=0.5, format="%.1f",
                                       value=round(100 * default_goal, 1), key=f"labels_goal_{experiment['id']}",
                                       help="Images per class each arm needs, read off its own learning curve. "
                                            "Default: the best pretrained accuracy measured.") / 100
            # The box shows the default rounded to 0.1 %: left there, it asks for the default the view already
            # computed (the same sentence), not for a second set of walks at the rounded value.
            asked = None if round(100 * goal, 1) == round(100 * default_goal, 1) else goal
            needs = cached.memo(key, ("labels_to_target", asked), lambda: target_line(view.labels_to_target(asked)))
            st.markdown(markdown_safe(needs))
        chart(cached.memo(key, ("gap", large, baseline_key), lambda: charts.gap_chart(
            view.diffs, large=large, baseline=baseline_view.diffs if baseline_view is not None else None,
            baseline_name=baseline_label)), charts.HINTS["gap"], "gap")
        chart(cached.memo(key, ("efficiency", large, baseline_key), lambda: charts.data_efficiency(
            view.summary, baseline_summary, baseline_label, large=large)),
              charts.HINTS["data_efficiency"], "efficiency")
        if baseline_note:
            st.caption(baseline_note)
        st.markdown("##### Paired differences (pretrained minus scratch, same size and seed)")
        shown_table = cached.memo(key, ("table",), lambda: analysis.results_display(view.table))
        presentation.table(shown_table, key="summary_table")
        st.caption("Gain: pretrained minus scratch on the same training images and seed, averaged over seeds. The 95% CI is "
                   "a t-interval over those per-seed differences with the test set held fixed (none with one seed, or when "
                   "all seeds agree); p is its t-test before the Holm correction the verdict applies; ± is the spread of "
                   "accuracy over seeds.")

with depth_tab:
    if depth_tab.open:
        chart(cached.memo(key, ("freezing", large, baseline_key), lambda: charts.freezing_depth(
            view.depth, stage_names, large=large,
            baseline=baseline_view.depth if baseline_view is not None else None,
            baseline_name=baseline_label)), charts.HINTS["freezing"], "freezing")
        if baseline_note:
            st.caption(baseline_note)

with curves_tab:
    if curves_tab.open:
        all_sizes = sorted(frame["size"].unique())
        with st.container(key="controls_curves", horizontal=True):
            x_axis = keep("curves_x", st.segmented_control(
                "Horizontal axis", ["epoch", "seconds"], default=kept("curves_x", "epoch"), key="curves_x",
                format_func={"epoch": "per epoch", "seconds": "per second of training"}.get))
            default_sizes = all_sizes if len(all_sizes) <= 4 else [all_sizes[0], all_sizes[len(all_sizes) // 2], all_sizes[-1]]
            chosen_sizes = keep("curves_sizes", st.multiselect(
                "Sizes", all_sizes, default=[x for x in kept("curves_sizes", default_sizes) if x in all_sizes],
                key="curves_sizes"))
        chart(cached.memo(key, ("learning", x_axis, tuple(chosen_sizes or default_sizes), large), lambda: charts.learning_curves(
            view.curves, x=x_axis or "epoch", sizes=chosen_sizes or default_sizes, large=large)),
              charts.HINTS["learning"], "curves")

with overfit_tab:
    if overfit_tab.open:
        overfit_view.render(view, large, PLOT)

with time_tab:
    if time_tab.open:
        default_target = analysis.default_target(spec)
        with st.container(key="controls_target"):
            target_key = f"target_{experiment['id']}"
            target = keep(target_key, st.slider(
                "Target validation accuracy", 0.0, 100.0, value=kept(target_key, float(round(100 * default_target))),
                step=1.0, format="%.0f%%", key=target_key,
                help="Default: the experiment's target_acc, set before any result existed.")) / 100
        def time_chart():
            baseline_time = baseline_view.time_to_target(target) if baseline_view is not None else None
            return charts.time_to_target(view.time_to_target(target), target,
                                         large=large, baseline=baseline_time, baseline_name=baseline_label)

        chart(cached.memo(key, ("time_to_target", target, large, baseline_key), time_chart),
              charts.HINTS["time_to_target"], "time_to_target")
        if baseline_note:
            st.caption(baseline_note)
        times = view.training_time
        chart(cached.memo(key, ("training_time", large), lambda: charts.training_time(times, large=large)),
              charts.HINTS["training_time"], "training_time")
        if times.attrs.get("left_out"):
            st.caption(f":material/info: {times.attrs['left_out']} run(s) trained on another machine or thread count "
                       "(reused from earlier experiments) are left out of this comparison.")

with errors_tab:
    if errors_tab.open:
        sizes = sorted(frame["size"].unique())
        seeds = sorted(frame["seed"].unique())
        with st.container(key="controls_mistakes", horizontal=True):
            size = keep("mistakes_size", st.selectbox("Size (per class)", sizes, index=kept_index("mistakes_size", sizes),
                                                      key="mistakes_size"))
            seed = keep("mistakes_seed", st.selectbox("Seed", seeds, index=kept_index("mistakes_seed", seeds),
                                                      key="mistakes_seed"))
        # Confusion matrices and mistakes are read for this pair only, not with every run.
        pair = [r for r in finished if r["size"] == size and r["seed"] == seed and r["status"] == "done"]
        shown_artifacts = cached.artifacts([r["run_id"] for r in pair])
        pair = [{**r, **shown_artifacts.get(r["run_id"], {})} for r in pair]
        order = analysis.variant_order([analysis.variant(r["arm"], r["freeze"]) for r in pair])
        pair.sort(key=lambda r: order.index(analysis.variant(r["arm"], r["freeze"])))
        if not pair:
            st.info("No finished runs for this size and seed.")
        else:
            panels = [(f"{analysis.variant(r['arm'], r['freeze'])}: {100 * (r['final'] or {}).get('test_acc', float('nan')):.1f}%",
                       r["confusion"]) for r in pair]
            st.plotly_chart(charts.at_resolution(charts.confusion_grid(
                panels, class_names, f"Confusion matrices, {size} per class, seed {seed}", large=large,
                per_row=2 if large or len(panels) == 4 else 3), spec["image_size"]),
                            key="confusion", **PLOT)
            st.caption(f":material/lightbulb: {charts.HINTS['confusion']}")
            st.markdown("##### Test images each arm gets wrong")
            # On demand: the images are decoded by a child process (torch stays out of the dashboard), a few
            # seconds the first time per dataset, which the rest of the page must not wait for.
            show = keep("show_mistakes", st.toggle(
                "Show the images", value=kept("show_mistakes", False), key="show_mistakes",
                help="Reads the test images from the dataset (a few seconds the first time)."))
            test = None
            try:
                test = cached.test_set(spec) if show else None
            except Exception as e:  # the dataset may be gone from this machine; the rest of the page still works
                st.warning(f"The test images cannot be shown: {markdown_safe(e)}", icon=":material/image_not_supported:")
            if test is not None:
                from tlcompare.analysis import mistakes  # torch: only once test images are on screen

                wrong = {r["run_id"]: {m["index"] for m in r["misclassified"] or []} for r in pair}
                scratch = next((r for r in pair if r["arm"] == "scratch"), None)
                for run in pair:
                    name = analysis.variant(run["arm"], run["freeze"])
                    other = scratch if run["arm"] != "scratch" else next((r for r in pair if r["arm"] == "pretrained"), None)
                    other_name = analysis.variant(other["arm"], other["freeze"]) if other else ""
                    items = mistakes.mistakes(run, test, wrong.get(other["run_id"]) if other else None, limit=12)
                    st.markdown(f"**{name}**: {len(run['misclassified'] or [])}"
                                f"{'+' if len(run['misclassified'] or []) >= 32 else ''} wrong in this sample")
                    if not items:
                        st.caption("No mistakes on the test set.")
                        continue
                    st.image([m.image for m in items], width=80,
                             caption=[markdown_safe(f"{m.true} → {m.pred}") + (f" (also {other_name.split(',')[0]})" if m.also_wrong_elsewhere
                                                               else "") for m in items])
            st.caption(f":material/lightbulb: {charts.HINTS['gallery']}")

# -- provenance ---------------------------------------------------------------------------------------
with st.expander("Provenance: what these numbers were measured on", icon=":material/fingerprint:"):
    report = ExperimentReport(id=experiment["id"], name=experiment["name"], notes="", created=experiment["created"],
                              status=experiment["status"], spec=spec, environment=environment, runs=runs)
    presentation.table({"": [k for k, _ in report.manifest()], "value": [printable(v, None) for _, v in report.manifest()]},
                       width="stretch")
    st.caption("Finished runs are reused by content: own images by their files' names, sizes and times, a "
               "checkpoint by the hash of its bytes. An edited folder or a replaced checkpoint gets new runs.")
