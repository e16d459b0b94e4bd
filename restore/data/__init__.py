"""Datasets and LightningDataModules (the ``data`` config group)."""

from restore.data.datamodules import EmbeddedDataModule, FolderDataModule, RestorationDataModule
from restore.data.datasets import Image, ImageDataset, PatchDataset
from restore.data.deblur import GoProDataModule, RealBlurDataModule
from restore.data.div2k import DIV2KDataModule
from restore.data.io import list_images, read_image
from restore.data.paired import (
    ImageStore,
    Pair,
    PairedFolderDataModule,
    PairedImageDataset,
    PairedPatchDataset,
)
from restore.data.torchvision_sets import CIFAR100DataModule, STL10DataModule

__all__ = [
    "CIFAR100DataModule",
    "DIV2KDataModule",
    "EmbeddedDataModule",
    "FolderDataModule",
    "GoProDataModule",
    "Image",
    "ImageDataset",
    "ImageStore",
    "Pair",
    "PairedFolderDataModule",
    "PairedImageDataset",
    "PairedPatchDataset",
    "PatchDataset",
    "RealBlurDataModule",
    "RestorationDataModule",
    "STL10DataModule",
    "list_images",
    "read_image",
]
