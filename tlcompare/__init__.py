"""tlcompare: measure fine-tuning a pretrained model against training from scratch on your own images."""

__version__ = "0.1.0"
