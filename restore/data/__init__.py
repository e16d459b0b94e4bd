"""Datasets and LightningDataModules (the ``data`` config group)."""

from restore.data.datamodules import EmbeddedDataModule, FolderDataModule, RestorationDataModule
from restore.data.datasets import Image, ImageDataset, PatchDataset
from restore.data.io import list_images, read_image

__all__ = [
    "EmbeddedDataModule",
    "FolderDataModule",
    "Image",
    "ImageDataset",
    "PatchDataset",
    "RestorationDataModule",
    "list_images",
    "read_image",
]
