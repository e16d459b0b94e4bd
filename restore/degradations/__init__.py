"""Degradation operators: what turns a clean image into the one a model must restore."""

from restore.degradations.noise import Degradation, GaussianNoise, SaltPepperNoise, UniformNoise
from restore.degradations.noise_source import NoiseSource, SeededNoise, TorchNoise

__all__ = [
    "Degradation",
    "GaussianNoise",
    "NoiseSource",
    "SaltPepperNoise",
    "SeededNoise",
    "TorchNoise",
    "UniformNoise",
]
