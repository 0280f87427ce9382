"""A local checkpoint file as the pretrained source of a backbone (``--weights PATH``).

The file is read with ``weights_only=True``, so it can hold tensors and plain containers but never
runs code: a checkpoint from the internet is safe to try. Its old classifier head, of any shape, is
ignored because the backbone always gets a fresh head; every other tensor must fit exactly, since a
silently half-loaded model would make "pretrained" mean something other than what the user chose.
"""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path

import torch
from torch import Tensor

from tlcompare.errors import UserError
from tlcompare.models.backbone import Backbone

WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")
# DistributedDataParallel and torch.compile wrap the model, and their state dicts keep the wrapper's name.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
SHOWN = 5  # keys listed per kind of problem; the rest are counted


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Load ``path`` and return the state dict in it (unwrapped, without wrapper prefixes)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"checkpoint file '{path}' does not exist")
    not_safe = f"checkpoint file '{path}' is not a PyTorch state dict loadable safely with weights_only=True"
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise UserError(
            f"{not_safe} ({_unpickler_reason(e)}); in a trusted environment, load it and save "
            f"model.state_dict() with torch.save"
        ) from None
    except OSError as e:
        raise UserError(f"cannot read checkpoint file '{path}': {e}") from None
    except Exception as e:
        # Unpickling a damaged file fails in many ways (EOFError, RuntimeError, KeyError, ...).
        reason = summarize_load_error(e)
        raise UserError(f"{not_safe}: it is truncated or not a torch.save file ({reason})") from None
    state = _unwrap(obj)
    if state is None:
        raise UserError(
            f"{not_safe}: it holds a {type(obj).__name__}, not a dict of tensors "
            f"(plain, or under one of the keys {', '.join(WRAPPER_KEYS)})"
        )
    return {_strip_prefixes(key): value for key, value in state.items()}


def load_checkpoint(backbone: Backbone, state: dict[str, Tensor], source: str) -> None:
    """Copy ``state`` into ``backbone.model``, all or nothing; only the head's keys are skipped."""
    head = backbone.head_prefix()
    expected = {k: v for k, v in backbone.model.state_dict().items() if not k.startswith(head)}
    given = {k: v for k, v in state.items() if not k.startswith(head)}
    # BatchNorm fills in a missing step counter itself (older checkpoints lack it); it is no weight.
    missing = [k for k in expected if k not in given and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in given if k not in expected]
    mis_shaped = [
        f"{k} {_shape(given[k])} (model {_shape(expected[k])})"
        for k in expected
        if k in given and given[k].shape != expected[k].shape
    ]
    if missing or unexpected or mis_shaped:
        problems = [
            _listed(missing, "missing key"),
            _listed(unexpected, "unexpected key"),
            _listed(mis_shaped, "key with the wrong shape", "keys with the wrong shape"),
        ]
        hint = "; is it a checkpoint of another architecture?" if len(unexpected) >= len(given) else ""
        raise UserError(
            f"{source} does not fit {backbone.name}: {'; '.join(p for p in problems if p)} "
            f"(keys of the old classifier head, {head}*, are ignored){hint}"
        )
    backbone.model.load_state_dict(given, strict=False)


def _unwrap(obj: object) -> dict[str, Tensor] | None:
    if _is_state_dict(obj):
        return obj
    if isinstance(obj, dict):
        for key in WRAPPER_KEYS:
            if _is_state_dict(obj.get(key)):
                return obj[key]
    return None


def _is_state_dict(obj: object) -> bool:
    return isinstance(obj, dict) and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items())


def _strip_prefixes(key: str) -> str:
    stripped = True
    while stripped:
        stripped = False
        for prefix in WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key, stripped = key[len(prefix):], True
    return key


def _listed(items: list[str], singular: str, plural: str | None = None) -> str:
    if not items:
        return ""
    noun = singular if len(items) == 1 else plural or singular.replace("key", "keys", 1)
    more = f", ... {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return f"{len(items)} {noun} ({', '.join(items[:SHOWN])}{more})"


def _unpickler_reason(error: Exception) -> str:
    # torch's message is a long essay; the part after "WeightsUnpickler error:" names what was refused.
    match = re.search(r"WeightsUnpickler error:\s*(.+)", str(error))
    reason = match.group(1).split(". ")[0].strip() if match else ""
    return reason or "it holds objects other than tensors"


def summarize_load_error(error: Exception) -> str:
    """The first sentence of why torch.load failed on a damaged file (torch's messages run long)."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0].split('. ')[0]}" if text else type(error).__name__


def _shape(tensor: Tensor) -> str:
    return "x".join(map(str, tensor.shape)) or "scalar"
