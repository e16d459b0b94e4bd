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

__all__ += [
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
