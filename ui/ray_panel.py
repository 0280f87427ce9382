"""The sidebar's Ray part: start a Ray worker for this store, and what the cluster is running.

Everything shown is read from the store (the driver writes one row per run slot); this process
never imports ray.
"""

from __future__ import annotations

import streamlit as st

from tlcompare.text.escape import markdown_safe
from tlcompare.worker.control import ensure_ray_worker, ray_cluster, stop_worker
from ui.state import store


def cluster_lines() -> None:
    """Nodes and what each slot runs, under the worker badge; nothing when no Ray worker is alive."""
    cluster = ray_cluster(store())
    if cluster is None:
        return
    nodes = cluster["nodes"]
    slots = sum(len(s) for s in nodes.values())
    st.markdown(f"**Ray cluster** · {len(nodes)} node{'s' if len(nodes) != 1 else ''}, {slots} run slot"
                f"{'s' if slots != 1 else ''}")
    for host, node_slots in sorted(nodes.items()):
        busy = [s for s in node_slots if s["run_id"]]
        shares = ", ".join(sorted({s["share"] for s in node_slots if s["share"]})) or "starting"
        lines = [f"run {s['run_id']}: {s['run_label']}" for s in busy] or ["idle"]
        st.caption(markdown_safe(f"{host} ({shares}): " + "; ".join(lines)))


def controls() -> None:
    """Start (or stop) the worker that sends this store's runs to a Ray cluster."""
    with st.expander("Train on a Ray cluster", icon=":material/hub:"):
        cluster = ray_cluster(store())
        if cluster is not None:
            st.caption("Queued runs go to the Ray cluster listed above; results land in this store.")
            if st.button("Stop the Ray worker", help="runs in progress go back to the queue"):
                stop_worker(cluster["worker_id"], store())
                st.rerun()
            return
        # The placeholder fits the sidebar's box; what an empty box means is in the help.
        address = st.text_input("Cluster address", placeholder="e.g. 10.0.0.5:6379",
                                help="The head node of an existing Ray cluster. Empty: the cluster in RAY_ADDRESS "
                                     "if set, else a Ray cluster started on this machine. Training results still "
                                     "land in this store.")
        per_gpu = st.number_input("Runs per GPU", min_value=1, max_value=16, value=1,
                                  help="Small models leave a GPU mostly idle: 4 runs per GPU pack them.")
        if st.button("Start a Ray worker", type="secondary"):
            ensure_ray_worker(address.strip() or None, int(per_gpu), store())
            st.toast("Ray worker starting: queued runs go to the cluster", icon=":material/hub:")
