"""The New-experiment form's values in session state: filled from a preset, read into a spec.

Widgets take their values only from session state (keys ``f_<field>``), so choosing a preset
simply rewrites those keys. Only a preset choice or a change of optimizer or backbone rewrites
other widgets' values: a callback that changes a widget the browser also holds races with the
user's next click, so edits never reset the preset chip.
"""

from __future__ import annotations

import streamlit as st

from tlcompare.data.access import require_inside_roots
from tlcompare.presets import PRESETS
from tlcompare.spec import DEFAULT_LR, TUNED, ExperimentSpec

FIELDS = ("dataset", "model", "weights", "small_cnn", "sizes", "freeze", "seeds", "epochs", "batch_size",
          "image_size", "augment", "optimizer", "lr_scratch", "lr_pretrained", "head_lr_mult", "weight_decay",
          "warmup_epochs", "label_smoothing", "feature_cache", "device", "name", "budget", "steps", "patience",
          "min_steps", "max_epochs", "random_control", "target_acc", "validation")


def key(field: str) -> str:
    return f"f_{field}"


def load_spec(spec: ExperimentSpec) -> None:
    """Put every field of ``spec`` into the form."""
    values = spec.to_dict()
    values["seeds"] = len(spec.seeds)
    values["lr_scratch"] = spec.lr_for("scratch")
    values["lr_pretrained"] = spec.lr_for("pretrained")
    values["weights_source"] = "checkpoint" if spec.weights else "default"
    values["weights"] = spec.weights or ""
    # A spec stored before converged counted steps has none: the form builds a new spec, with today's rule.
    values["min_steps"] = spec.min_steps if spec.min_steps is not None else ExperimentSpec().min_steps
    # The form's switch: tune the learning rates (a grid per arm and size) or not.
    st.session_state[key("tune_lr")] = spec.tune in TUNED
    st.session_state[key("tune_ends")] = spec.tune == "lr-ends"
    # A resolution sweep: the first resolution in the image-size box, the others beside it.
    st.session_state[key("image_size_more")] = list(spec.image_sizes[1:])
    for field in (*FIELDS, "weights_source"):
        st.session_state[key(field)] = values[field]


def load_preset(preset_key: str) -> None:
    load_spec(PRESETS[preset_key].spec())
    st.session_state["preset"] = preset_key


def ensure_initialised(default_preset: str) -> None:
    if key("dataset") not in st.session_state:
        load_preset(default_preset)


def on_optimizer_change() -> None:
    # Learning rates that suit AdamW wreck SGD and vice versa: reset them with the optimizer.
    opt = st.session_state[key("optimizer")]
    st.session_state[key("lr_scratch")] = DEFAULT_LR[opt]["scratch"]
    st.session_state[key("lr_pretrained")] = DEFAULT_LR[opt]["pretrained"]


def values(sizes: list[int]) -> dict:
    """The form as loose values for ``build_spec`` (sizes come already cleaned by the page)."""
    s = st.session_state
    out = {f: s[key(f)] for f in FIELDS if f not in ("weights", "sizes")}
    out["sizes"] = sizes
    out["seeds"] = int(s[key("seeds")])
    weights = s[key("weights")].strip() if s[key("weights_source")] == "checkpoint" else ""
    # A path typed into the page is opened by the server: only inside its data roots.
    out["weights"] = str(require_inside_roots(weights, "checkpoint file")) if weights else None
    out["name"] = s[key("name")].strip()
    out["tune"] = ("lr-ends" if s.get(key("tune_ends")) else "lr") if s.get(key("tune_lr")) else "none"
    more = [int(x) for x in s.get(key("image_size_more")) or []]
    if more:
        out["image_size"] = [out["image_size"], *more]
    return out


def normalise_sizes() -> None:
    """Typed sizes ("12") become numbers in the form's state, sorted, once each; before the sizes widget."""
    raw = st.session_state[key("sizes")]
    typed = [int(_size_text(item)) if _size_text(item).isdigit() else item for item in raw]
    numbers = sorted({t for t in typed if isinstance(t, int)})  # in order, each once, as the runs will be
    st.session_state[key("sizes")] = numbers + list(dict.fromkeys(t for t in typed if not isinstance(t, int)))


# Offered beside the sizes box, which starts empty (typed numbers only, see the page): the sizes a
# data-efficiency curve usually spans, on a log scale.
COMMON_SIZES = (5, 10, 20, 50, 100, 200, 500)


def add_common_size() -> None:
    """The size picked from the suggestions joins the sizes (a callback: runs before the page draws
    the sizes box again); the suggestion then reads as unpicked."""
    picked = st.session_state.get(key("size_pick"))
    if picked is not None:
        st.session_state[key("sizes")] = [*st.session_state[key("sizes")], int(picked)]
        st.session_state[key("size_pick")] = None


def _size_text(item) -> str:
    return str(item).strip().replace(",", "").replace("_", "")


def parse_sizes(raw: list) -> tuple[list[int], list[str]]:
    """Multiselect values (ints, or text the user typed) as whole numbers, with a note per bad entry."""
    sizes, notes = [], []
    for item in raw:
        text = _size_text(item)
        if text.isdigit():
            sizes.append(int(text))
        else:
            notes.append(f"'{item}' is not a whole number of images: ignored")
    return sizes, notes
