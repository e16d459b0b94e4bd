"""Restoration networks. Each maps a degraded image batch to a restored one (see docs in each)."""

from restore.archs.dncnn import DnCNN

__all__ = ["DnCNN"]
