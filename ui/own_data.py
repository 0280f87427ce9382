"""The "Your own images" tab of New experiment: a zip upload, a folder on this machine, or a
torchvision dataset. Returns the dataset string the experiment will use, or None.

An upload is untrusted: tlcompare.data.upload extracts it safely, decodes and checks it. A folder
on this machine is decoded and checked the same way (large datasets never pass through the
browser). Names from the data reach the page only through tables (plain text) or markdown_safe.
"""

from __future__ import annotations

import streamlit as st

from tlcompare.data.access import require_inside_roots
from tlcompare.data.inspect import DatasetReport, inspect_source
from tlcompare.data.sources import source_info
from tlcompare.data.torchvision_sets import TORCHVISION_SETS
from tlcompare.data.upload import receive_upload
from tlcompare.errors import UserError
from tlcompare.text.escape import markdown_safe, printable

KINDS = {"zip": "Upload a zip", "folder": "A folder on this machine", "torchvision": "A torchvision dataset"}


def render() -> str | None:
    kind = st.segmented_control("Where are they?", list(KINDS), format_func=KINDS.get, default="zip",
                                key="own_kind")
    if kind == "folder":
        return _folder()
    if kind == "torchvision":
        return _torchvision()
    if kind == "zip":
        return _zip()
    return None


def _zip() -> str | None:
    st.caption("A zip with one sub-folder per class (cats/1.jpg, dogs/2.png, …) in JPEG, PNG, BMP, TIFF or "
               "WebP. Unreadable files are skipped and listed. Nothing leaves this machine.")
    upload = st.file_uploader("Zip of your images", type=["zip"], key="own_zip")
    if upload is None:
        st.session_state.pop("own_data", None)
        return None
    if st.session_state.get("own_data", {}).get("file_id") != upload.file_id:
        _check(upload.file_id, lambda progress: receive_upload(upload, upload.name, progress=progress))
    return _show_checked(upload.file_id)


def _folder() -> str | None:
    st.caption("A folder with one sub-folder per class, on the machine that runs tlcompare, inside the folders "
               "it may read (TLCOMPARE_DATA_ROOTS; by default your home folder). Decoded once and cached; when "
               "files change, it is decoded again.")
    path = st.text_input("Folder", key="own_folder", placeholder="/data/parts  (holds parts/good/…, parts/bad/…)")
    path = path.strip()
    if not path:
        return None
    try:  # the server reads only inside its data roots, whoever types here
        source = f"imagefolder:{require_inside_roots(path)}"
    except UserError as e:
        st.error(markdown_safe(e), icon=":material/gpp_bad:")
        return None
    if st.session_state.get("own_data", {}).get("file_id") != source:
        _check(source, lambda progress: (source, inspect_source(source, progress=progress)))
    return _show_checked(source)


def _torchvision() -> str | None:
    name = st.selectbox("Dataset", list(TORCHVISION_SETS), key="own_torchvision",
                        format_func=lambda n: TORCHVISION_SETS[n].title)
    tv = TORCHVISION_SETS[name]
    st.caption(f"Downloaded by torchvision into the tlcompare data folder the first time a run needs it (this "
               f"needs the internet), read from there afterwards; its official test split is kept. "
               f"Licence: {tv.licence}.")
    missing = _torchvision_missing(name)
    if missing:
        st.info(f"{missing}. The runs' size limits and the time estimate appear once it is on this machine; "
                "offline, its runs fail with a message saying how to get the files.", icon=":material/cloud_download:")
    if st.checkbox("Use this dataset for this experiment", value=False, key="use_torchvision"):
        return f"torchvision:{name}"
    return None


@st.cache_data(show_spinner=False, ttl=60)
def _torchvision_missing(name: str) -> str | None:
    return source_info(f"torchvision:{name}").unavailable_reason(None)


def _check(key: str, load) -> None:
    """Decode and check a source once per key; a problem becomes one message, never a traceback."""
    bar = st.progress(0.0, text="Checking the images…")
    try:
        source, report = load(lambda done, total: bar.progress(
            done / max(total, 1), text=f"Decoding images: {done:,} of {total:,}"))
        st.session_state["own_data"] = {"file_id": key, "source": source, "report": report}
    except UserError as e:
        st.session_state["own_data"] = {"file_id": key, "error": str(e)}
    bar.empty()


def _show_checked(key: str) -> str | None:
    own = st.session_state.get("own_data", {})
    if own.get("file_id") != key:
        return None
    if "error" in own:
        st.error(markdown_safe(own["error"]), icon=":material/gpp_bad:")
        return None
    report: DatasetReport = own["report"]
    use = st.checkbox("Use these images for this experiment", value=True, key="use_own_data")
    st.markdown(f"**{sum(report.counts):,}** images &nbsp;·&nbsp; **{len(report.class_names)}** classes "
                f"&nbsp;·&nbsp; stored as {markdown_safe(report.stored)}")
    st.dataframe(report.class_rows(), hide_index=True, key="own_classes")
    for warning in report.warnings:
        st.warning(markdown_safe(warning), icon=":material/warning:")
    skipped = [{"file": printable(p, None), "why": printable(why, None)} for p, why in report.unreadable + report.skipped]
    if skipped:
        with st.expander(f"Skipped files ({len(skipped)})"):
            st.dataframe(skipped, hide_index=True)
    return own["source"] if use else None
