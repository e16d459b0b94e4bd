"""Degradation operators: what turns a clean image into the one a model must restore."""

from restore.degradations.base import Degradation, Observation
from restore.degradations.noise import GaussianNoise, SaltPepperNoise, UniformNoise
from restore.degradations.noise_source import NoiseSource, SeededNoise, TorchNoise

__all__ = [
    "Degradation",
    "GaussianNoise",
    "NoiseSource",
    "Observation",
    "SaltPepperNoise",
    "SeededNoise",
    "TorchNoise",
    "UniformNoise",
]

# Blur, Poisson noise, composition and inpainting masks (restoration tasks beyond denoising).
from restore.degradations.blur import GaussianBlur, MotionBlur
from restore.degradations.compose import Compose, PoissonNoise
from restore.degradations.masks import (
    BoxMask,
    FileMask,
    MaskDegradation,
    RandomPixelMask,
    StrokeMask,
    TextMask,
)
from restore.degradations.resize import BicubicDownsample

__all__ += [
    "BicubicDownsample",
    "BoxMask",
    "Compose",
    "FileMask",
    "GaussianBlur",
    "MaskDegradation",
    "MotionBlur",
    "PoissonNoise",
    "RandomPixelMask",
    "StrokeMask",
    "TextMask",
]
