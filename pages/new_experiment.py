"""New experiment: start from a story, adjust the question, see what it costs here, start it."""

import streamlit as st

from tlcompare.analysis.validation import plan_line
from tlcompare.data import DATASETS
from tlcompare.data.facts import clamp_sizes
from tlcompare.errors import UserError
from tlcompare.estimate import words as estimate_text
from tlcompare.models import list_models, model_info
from tlcompare.presets import PRESETS, default_preset, matching_preset
from tlcompare.spec import (
    AUGMENTS,
    BUDGETS,
    OPTIMIZERS,
    VALIDATIONS,
    ExperimentSpec,
    build_spec,
    resolution_notes,
)
from tlcompare.spec import doubts as spec_doubts
from tlcompare.text.escape import markdown_safe
from tlcompare.worker.control import ensure_worker
from ui import errors, estimate_panel, facts_panel, own_data, paths
from ui import experiment_form as form
from ui.frame import ensure_frame
from ui.sidebar import device_summary
from ui.state import remember_experiment, store

ensure_frame()

IMAGE_SIZES = [16, 24, 32, 48, 64, 96, 128, 160, 192, 224, 256]
BATCH_SIZES = [8, 16, 32, 64, 128, 256, 512]
AUGMENT_TEXT = {
    "none": "none",
    "crop": "random shifts (safe for digits and text)",
    "flip": "left-right flips",
    "crop_flip": "random shifts and flips",
    "resized_crop_flip": "random resized crops and flips (photos)",
}
BUDGET_TEXT = {
    "converged": "until converged (validation stops improving)",
    "epochs": "equal epochs",
    "steps": "equal optimizer steps",
}
VALIDATION_TEXT = {
    "within": "within the labelled images (a fifth of each N; default)",
    "held_out": "held out from the dataset (shared by every run)",
}
WORKER_IDLE_EXIT = 600  # a worker started from here leaves after 10 idle minutes; Start brings it back
DEFAULTS = ExperimentSpec()
k = form.key


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


gpu = device_summary()["gpu"]
form.ensure_initialised(default_preset(gpu))

st.title("New experiment")
st.caption("Pretrained or from scratch? Every pair of runs trains the same network on the same labelled images "
           "with the same seed and schedule; only the starting weights differ.")

# -- a story to start from ----------------------------------------------------------------------------
with st.container(key="controls_presets"):
    st.pills("Start from a story", list(PRESETS), format_func=lambda p: PRESETS[p].title, key="preset",
             on_change=lambda: st.session_state["preset"] and form.load_preset(st.session_state["preset"]))
    chosen = st.session_state.get("preset")
    preset_caption = st.empty()  # the story now; with the estimate's figure once the page has it
    if chosen:
        preset_caption.caption(PRESETS[chosen].story)

form_col, cost_col = st.columns([3, 2], gap="large")

with form_col:
    # -- data -----------------------------------------------------------------------------------------
    st.subheader("1 · Data")
    builtin_tab, own_tab = st.tabs(["Built-in datasets", "Your own images"])
    with builtin_tab:
        def dataset_label(name: str) -> str:
            info = DATASETS[name]
            return info.title + ("" if info.unavailable_reason(None) is None else "  (not on this machine)")

        st.selectbox("Dataset", list(DATASETS), format_func=dataset_label, key=k("dataset"))
        info = DATASETS[st.session_state[k("dataset")]]
        data_missing = info.unavailable_reason(None)
        offline = ":green-badge[:material/check: available offline]" if data_missing is None else \
            ":orange-badge[:material/cloud_off: not on this machine]"
        st.markdown(f"**{info.num_images}** images &nbsp;·&nbsp; **{info.num_classes}** classes &nbsp;·&nbsp; "
                    f"**{info.image_size}** &nbsp;&nbsp; {offline}")
        st.caption(f"{info.description} Licence: {info.licence}.")
        if info.non_commercial:
            st.warning("This dataset's licence allows non-commercial use only.", icon=":material/gavel:")
        if data_missing:
            st.warning(f"Not on this machine: {data_missing}. Online, the worker downloads it when the "
                       "experiment starts; offline its runs fail.", icon=":material/cloud_off:")
    with own_tab:
        own_source = own_data.render()
    facts_of = own_source or (None if data_missing else info.name)
    facts, reading_facts = facts_panel.render(facts_of) if facts_of else (None, False)

    # -- model ----------------------------------------------------------------------------------------
    st.subheader("2 · Backbone and pretrained weights")
    models = {m.name: m for m in list_models() if m.name != "small_cnn"}

    def on_model_change() -> None:
        stages = len(model_info(st.session_state[k("model")]).stage_names)
        st.session_state[k("freeze")] = [d for d in st.session_state[k("freeze")] if d == "all" or int(d) < stages]

    def model_label(name: str) -> str:
        m = models[name]
        offline = "" if m.weights_unavailable() is None else "  (weights need internet)"
        return f"{m.title} · {m.params / 1e6:.1f} M parameters{offline}"

    st.selectbox("Backbone", list(models), format_func=model_label, key=k("model"), on_change=on_model_change)
    model = models[st.session_state[k("model")]]
    st.caption(f"{model.description}.")
    weights_missing = model.weights_unavailable()
    default_caption = (f":gray[Not available offline: {weights_missing}]" if weights_missing
                       else f"{model.weights_description}")
    st.radio("Pretrained weights", ["default", "checkpoint"], key=k("weights_source"),
             format_func=lambda s: "ImageNet-1k (the model's default)" if s == "default" else "A checkpoint file",
             captions=[default_caption, "A PyTorch state dict on this machine, e.g. from your own pretraining"])
    if st.session_state[k("weights_source")] == "checkpoint":
        st.text_input("Checkpoint file", key=k("weights"), placeholder="path/to/weights.pth")
    elif weights_missing:
        st.warning(f"{model.title}'s ImageNet weights are not on this machine. Online, the pretrained runs "
                   "download them; offline they fail. EfficientNet-Lite0/1/2 ship their weights in a package "
                   "and work offline.", icon=":material/cloud_off:")
    # Short labels: a longer one is cut off in this column; the help says the rest.
    st.checkbox("Add a small CNN trained from scratch", key=k("small_cnn"),
                help="A third arm: a small task-sized CNN (4 blocks, 32 to 256 channels) trained from scratch, the "
                     "'why not a small model made for the task?' baseline.")
    st.checkbox("Add a random-features control", key=k("random_control"),
                help="Random init, same freezing depth. For every frozen depth, the same freezing on a randomly initialised network: shows whether "
                     "the pretrained features help, or whether any frozen features would do as well.")

    # -- the grid -------------------------------------------------------------------------------------
    st.subheader("3 · What to compare")
    max_size = facts.max_size if facts else None
    # No options, only what is typed: with suggestions such as 122 or 10 in the list, typing 12 or 0
    # and pressing Enter picked the first suggestion matching the text instead of the number typed
    # (and the chosen sizes as options would do the same until the rerun after removing one).
    form.normalise_sizes()
    st.multiselect("Training-set sizes (labelled images per class)", [], key=k("sizes"),
                   accept_new_options=True, placeholder="Type a number and press Enter", select_all=False,
                   help="Type any number and press Enter to add it; × removes one. Each size is a nested subset: "
                        "the 5-per-class images of a seed are inside its 20-per-class images.")
    sizes, size_notes = form.parse_sizes(st.session_state[k("sizes")])
    common = [n for n in form.COMMON_SIZES if n not in sizes and (max_size is None or n <= max_size)]
    if common:
        st.pills("Add a common size", common, key=k("size_pick"), on_change=form.add_common_size,
                 format_func=lambda n: f"+ {n}", help="Adds that many labelled images per class to the sizes above.")
    sizes, clamp_notes = clamp_sizes(sizes, max_size)
    for note in size_notes + clamp_notes:
        st.caption(f":orange[{markdown_safe(note)}]")
    if facts:
        st.caption(f"This dataset allows up to {facts.max_size} per class (its smallest class, after holding out "
                   f"{facts.n_val} validation and {facts.n_test} test images).")
    elif reading_facts:
        st.caption("The largest size per class this dataset allows follows once it is read.")

    stage_names = model.stage_names
    stage_words = model.stage_descriptions(st.session_state[k("image_size")])

    def depth_label(d) -> str:  # short: a chip of the box shows it whole
        if d == "all":
            return "all · linear probe"
        if d == 0:
            return "0 · fine-tune all"
        return f"{d} · freeze {d} of {len(stage_names)} stages"

    st.multiselect("Freezing depths for the pretrained arm", [0, *range(1, len(stage_names)), "all"], key=k("freeze"),
                   format_func=depth_label, select_all=False,
                   help="Depth d keeps the first d stages at their pretrained values and trains the rest. "
                        "0 trains everything; a linear probe trains only the new classifier.")
    with st.expander(f"What each depth freezes: the {len(stage_words)} stages of {model.title}", icon=":material/layers:"):
        st.markdown("\n".join(f"{i}. {w}" for i, w in enumerate(stage_words, start=1))
                    + f"\n\nInput to output, at {st.session_state[k('image_size')]} px; then the classifier. "
                    "Depth d freezes stages 1 to d.")
    c1, c2 = st.columns(2)
    c1.number_input("Seeds", min_value=1, max_value=20, step=1, key=k("seeds"),
                    help="Each seed draws other training images and initial weights; 2 or more give confidence intervals.")
    c2.number_input("Epochs", min_value=1, max_value=1000, step=1, key=k("epochs"),
                    help="Under the 'equal epochs' budget. 'Until converged' counts optimizer steps instead "
                         "(its minimum and patience are under Advanced).")

    st.toggle("Tune learning rates on validation", key=k("tune_lr"),
              help="Train every arm at 4 learning rates (log-spaced over 30x around its rate below) at every size "
                   "and seed, and keep the rate with the best validation accuracy: a fixed rate can make the gap show "
                   "the rate rather than the pretraining. Four times the runs; the estimate counts them.")
    if st.session_state[k("tune_lr")]:
        st.checkbox("Only at the smallest and largest size", key=k("tune_ends"),
                    help="Cheaper: the grid trains at the smallest and the largest size only; each size between "
                         "trains once, at the rate interpolated (in log size) between the two sizes' choices. Those "
                         "runs start when the two grids have finished. Needs three sizes or more to save anything.")

    with st.expander("Advanced: training budget, learning rates, batch size, image size, augmentation, optimizer, "
                     "validation images"):
        # Two to a row: three made the labels wrap and the number boxes lose their buttons on a laptop
        # screen. Boxes aligned at the bottom: where one label of a row still takes two lines (a narrow
        # window), the two boxes stay level.
        a1, a2 = st.columns(2, vertical_alignment="bottom")
        a1.selectbox("Optimizer", OPTIMIZERS, key=k("optimizer"), on_change=form.on_optimizer_change,
                     format_func=lambda o: {"adamw": "AdamW", "sgd": "SGD with Nesterov momentum"}[o])
        a2.number_input("Learning rate, scratch", min_value=1e-6, max_value=10.0, step=1e-4, format="%.5f",
                        key=k("lr_scratch"))
        a3, b1 = st.columns(2, vertical_alignment="bottom")
        a3.number_input("Learning rate, pretrained", min_value=1e-6, max_value=10.0, step=1e-4, format="%.5f",
                        key=k("lr_pretrained"))
        # A short label: "Head learning-rate multiplier" took two lines beside the pretrained rate on a
        # laptop screen; the help says it in full.
        b1.number_input("Head LR multiplier", min_value=0.1, max_value=1000.0, step=1.0, key=k("head_lr_mult"),
                        help="Head learning-rate multiplier: the new classifier (the head) of a pretrained model "
                             "learns this many times faster than the body under it (the pretrained learning rate "
                             "times this).")
        b2, b3 = st.columns(2, vertical_alignment="bottom")
        b2.selectbox("Batch size", sorted(set(BATCH_SIZES + [st.session_state[k("batch_size")]])), key=k("batch_size"),
                     help="Small training sets use smaller batches so every epoch has "
                                                      "several steps.")
        b3.selectbox("Image size (pixels)", sorted(set(IMAGE_SIZES + [st.session_state[k("image_size")]])),
                     key=k("image_size"),
                     help=f"{model.title} was made for {model.default_image_size} px; smaller trains much faster.")
        st.multiselect("Also at these image sizes (a resolution sweep)", IMAGE_SIZES, key=k("image_size_more"),
                       help="The same experiment again at each resolution (one experiment each, on the same training "
                            "images and seeds): whether the answer depends on resolution. Pretrained features "
                            "far below the resolution they were trained at (224 px) are a weak start.")
        c1, c2 = st.columns(2, vertical_alignment="bottom")
        c1.selectbox("Augmentation", AUGMENTS, format_func=AUGMENT_TEXT.get, key=k("augment"))
        c2.number_input("Weight decay", min_value=0.0, max_value=9.0, step=0.01, key=k("weight_decay"))
        c3, d1 = st.columns(2, vertical_alignment="bottom")
        c3.number_input("Warm-up epochs", min_value=0.0, max_value=100.0, step=0.5, key=k("warmup_epochs"))
        d1.number_input("Label smoothing", min_value=0.0, max_value=0.9, step=0.05, key=k("label_smoothing"))
        d2, d3 = st.columns(2)[0], st.container()  # the checkbox's label needs the whole row
        d2.selectbox("Device", ["auto", "cpu", "cuda"], key=k("device"),
                     format_func={"auto": "auto (GPU when present)", "cpu": "CPU", "cuda": "GPU (CUDA)"}.get)
        d3.checkbox("Cache frozen features", key=k("feature_cache"),
                    help="A linear probe without augmentation sees the same features every epoch: run the frozen "
                         "network once over the images and train only the head (same results, far faster).")
        e1, e2 = st.columns(2, vertical_alignment="bottom")
        e1.selectbox("Training budget", BUDGETS, key=k("budget"), format_func=BUDGET_TEXT.get,
                     help="Equal short schedules make training from scratch look worse than it is: 'until converged' "
                          "trains every arm until its validation accuracy stops improving.")
        if st.session_state[k("budget")] == "steps":
            e2.number_input("Optimizer steps per run", min_value=1, max_value=10_000_000, step=100, key=k("steps"))
        elif st.session_state[k("budget")] == "converged":
            e2.number_input("Patience (optimizer steps)", min_value=1, max_value=10_000_000, step=50, key=k("patience"),
                            help="Optimizer steps without a new best validation accuracy before the rate drops "
                                 "tenfold, and again before the run stops. Counted in steps, not epochs, so a small "
                                 "training set (a few steps an epoch) gets the same patience as a large one.")
            e3, e4 = st.columns(2)
            e3.number_input("At least (optimizer steps)", min_value=0, max_value=10_000_000, step=100,
                            key=k("min_steps"), help="No run may stop before this many optimizer steps.")
            e4.number_input("At most (epochs)", min_value=1, max_value=10_000, step=10, key=k("max_epochs"))
        st.number_input("Target validation accuracy for time to target", min_value=0.01, max_value=1.0, step=0.05,
                        key=k("target_acc"))
        st.selectbox("Validation images", sorted(VALIDATIONS, key=list(VALIDATION_TEXT).index), key=k("validation"), format_func=VALIDATION_TEXT.get,
                     help="The images that choose each run's model (its best epoch, and its learning rate when "
                          "tuned). Within (the default): a fifth of the N labelled images per class (at least 1), "
                          "the rest train: what you would have with N labelled, so sizes start at 2. Held out: a "
                          "share of the whole dataset shared by every run, often more images than a small training "
                          "set: to compare training methods on an ample validation set, as papers do.")
    st.text_input("Name", key=k("name"), placeholder="e.g. Digits: 5 vs 20 per class")
    form_end = st.container()  # a second Start where the form ends, filled once the cost panel decided

# -- what it costs, and start -----------------------------------------------------------------------
with cost_col, st.container(border=True):
    st.subheader("Cost on this machine")
    spec = None
    try:
        # The pools measured above: the sizes are checked against them without reading the data again
        # (while they are still being read, Start waits for them).
        spec = build_spec({**form.values(sizes), **({"dataset": own_source} if own_source else {})}, facts=facts,
                          pools_pending=reading_facts)
    except UserError as e:  # a SpecError, or a checkpoint outside the data roots
        errors.show(e)
    if spec is not None:
        runs = spec.planned_runs()
        rates = len(spec.lr_rates("scratch"))
        arms = len({(r.arm, r.freeze) for r in runs})
        st.metric("Runs", len(runs), help="Sizes × seeds × arms (scratch, one pretrained run per freezing depth"
                                          + (", small CNN" if spec.small_cnn else "") + ")"
                                          + (" × learning rates tried" if rates > 1 else "")
                                          + (" × image sizes" if len(spec.image_sizes) > 1 else "") + ".")
        length = f"{_n(spec.epochs, 'epoch')} each" if spec.budget == "epochs" else spec.budget_text()
        grid = f" × {rates} learning rates" if rates > 1 else ""
        if spec.middle_sizes:
            grid += f" at {spec.end_sizes[0]} and {spec.end_sizes[-1]}/class, 1 between"
        if len(spec.image_sizes) > 1:  # a resolution sweep: the runs above, once per resolution
            grid += f" × {len(spec.image_sizes)} image sizes ({', '.join(map(str, spec.image_sizes))} px)"
        st.caption(f"{_n(len(spec.sizes), 'size')} × {_n(len(spec.seeds), 'seed')} × {_n(arms, 'arm')}{grid}, {length}")
        # Where the validation images come from changes the answer: said here, not only under Advanced.
        st.caption(plan_line(spec.validation, spec.sizes, facts and facts.num_classes, facts and facts.n_val)
                   + " Chosen under Advanced.")
        if reading_facts:
            estimate_panel.status_metric("reading the dataset…")
            est = None
        elif facts is None:
            st.caption("The time estimate needs the dataset on this machine.")
            est = None
        else:
            est = estimate_panel.render(spec, runs, facts, len(model.stage_names), gpu)
    # Valid but doubtful values (the CLI's warnings) and a run time nobody means: ask before starting.
    notes = resolution_notes(spec, how="under 'Also at these image sizes'") if spec is not None else []
    for line in notes:  # to know, not to confirm
        st.info(markdown_safe(errors.readable(line)), icon=":material/photo_size_select_small:")
    doubts = [*spec_doubts(spec), *filter(None, [estimate_text.too_long(est)])] if spec is not None else []
    for line in doubts:
        st.warning(markdown_safe(errors.readable(line)), icon=":material/warning:")
    confirmed = not doubts or st.checkbox("Start anyway: I have read the warnings above",
                                          key="start_anyway_" + "_".join(sorted(d.split()[0].rstrip(":") for d in doubts)))
    if reading_facts:
        st.caption("Start waits for the dataset's split sizes: the sizes it queues are checked against them.")
    blocked = spec is None or not confirmed or reading_facts
    start = st.button("Start experiment", type="primary", icon=":material/play_arrow:", disabled=blocked,
                      width="stretch", key="start")
    with form_end:  # the end of a long form is a screen or two below the panel's Start
        start = st.button("Start experiment", type="primary", icon=":material/play_arrow:", disabled=blocked,
                          key="start_at_end") or start
        if doubts and not confirmed:
            st.caption("Start waits for you to read the warnings in the cost panel (Start anyway).")
    if start:
        with errors.shown_as_message():
            # A resolution sweep is one experiment per resolution; Live opens the first.
            ids = [store().create_experiment(one, name=one.name or None) for one in spec.by_resolution()]
            experiment_id = ids[0]
            ensure_worker(idle_exit=WORKER_IDLE_EXIT, store=store())
            remember_experiment(experiment_id)
            st.switch_page(paths.LIVE, query_params={"exp": str(experiment_id)})
    st.caption("Training runs in a background worker: closing or refreshing this tab never stops it.")
    if reading_facts:
        facts_panel.wait(facts_of)  # after every widget of the form (see there)

if chosen:
    # The preset's time is the cost panel's own estimate, never a stored number: one source of truth.
    story = PRESETS[chosen].story
    if spec is None or matching_preset(spec) != chosen:
        preset_caption.caption(f"{story} (You have changed it since: the cost panel shows the time of your version.)")
    elif facts is not None:
        preset_caption.caption(f"{story} (On this machine: {estimate_text.figure(est)}.)" if est else
                               f"{story} (Time on this machine: measuring…)")
    else:
        preset_caption.caption(story)
