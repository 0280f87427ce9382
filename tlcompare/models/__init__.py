"""Backbones to compare: a registry, one entry point to build them, and freezing depth.

    backbone = create_backbone("efficientnet_lite0", num_classes=10, pretrained=True)
    info = apply_freeze(backbone, 3)          # the first 3 stages stay fixed
    set_train_mode(backbone, info.depth)      # each epoch: train mode, frozen BatchNorm kept in eval
"""

from tlcompare.models.backbone import Backbone, Stage
from tlcompare.models.checkpoint import load_checkpoint, read_state_dict
from tlcompare.models.freeze import FreezeInfo, apply_freeze, resolve_depth, set_train_mode
from tlcompare.models.registry import ModelInfo, create_backbone, list_models, model_info

__all__ = [
    "Backbone",
    "FreezeInfo",
    "ModelInfo",
    "Stage",
    "apply_freeze",
    "create_backbone",
    "list_models",
    "load_checkpoint",
    "model_info",
    "read_state_dict",
    "resolve_depth",
    "set_train_mode",
]
