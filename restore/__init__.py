"""restore: an experiment platform for image restoration with PyTorch Lightning and Hydra."""

__version__ = "0.1.0"
