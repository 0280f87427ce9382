"""Training: device data, augmentation, the loop and evaluation."""

from tlcompare.train.data import DeviceData, prepare
from tlcompare.train.device import describe_device, resolve_device
from tlcompare.train.loop import train_run
from tlcompare.train.result import RunResult

__all__ = ["DeviceData", "RunResult", "describe_device", "prepare", "resolve_device", "train_run"]
