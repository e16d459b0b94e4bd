"""Super-resolution metrics with the benchmark protocol: PSNR / SSIM on the Y channel.

The protocol behind the published SR tables (SRCNN, Dong et al., TPAMI 2016; VDSR, Kim et al.,
CVPR 2016; EDSR, Lim et al., CVPRW 2017): quantize the prediction to uint8 levels, convert both
images to the luma Y of ITU-R BT.601 YCbCr in studio range (MATLAB ``rgb2ycbcr``), crop ``scale``
pixels at every border, compute PSNR / SSIM (Gaussian window 11, sigma 1.5; Wang et al., TIP 2004)
per image and average over images. Y is not rounded to integers (BasicSR/EDSR convention;
rounding moves the bicubic Set5/Set14 means by <= 0.03 dB).

Single-channel images (Set14 has one) are compared as they are, not through the Y transform
(MATLAB scripts only call ``rgb2ycbcr`` when ``size(im, 3) == 3``). A color model sees such an image
replicated to RGB, which would compress its range to 16..235 and add ~0.1 dB to the Set14 mean, so
the dataset reports it (the ``"gray"`` key of ``restore.data.EvalDataset`` items) and the metrics
take that flag. Equal channels are deliberately not used to detect it: Set14's img_010 is a gray
picture stored as RGB, and the published numbers evaluate it through Y.
"""

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

from restore.imaging import quantize, rgb_to_y

__all__ = ["YPSNR", "YSSIM", "rgb_to_y", "sr_eval_y", "y_psnr", "y_ssim"]

# MATLAB rgb2ycbcr, Y row, for R, G, B in [0, 1]: Y (0..255) = 16 + 65.481 R + 128.553 G + 24.966 B.
# Written out because kornia.color.rgb_to_ycbcr is the full-range JPEG variant (no 16..235 range).


def sr_eval_y(
    pred: Tensor, target: Tensor, scale: int, gray: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Apply the SR evaluation protocol: (B, C, H, W) pair -> cropped (B, 1, H', W') Y pair.

    The prediction is clipped and rounded to uint8 levels; the target is used as given (it comes
    from uint8 files). ``gray`` is an optional (B,) bool mask of images that were single-channel
    files replicated to RGB: for those, the target's first channel and the (re-quantized) channel
    mean of the prediction are compared instead of Y.
    """
    if pred.shape != target.shape:
        raise ValueError(
            f"sr_eval_y: prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ; "
            "crop the HR image to a multiple of the scale before evaluation."
        )
    if pred.dim() != 4:
        raise ValueError(f"sr_eval_y: expected (B, C, H, W) tensors, got {tuple(pred.shape)}.")
    pred = quantize(pred)
    pred_y, target_y = rgb_to_y(pred), rgb_to_y(target)
    if gray is not None and pred.shape[1] == 3:
        mask = torch.as_tensor(gray, device=pred.device, dtype=torch.bool).view(-1, 1, 1, 1)
        pred_y = torch.where(mask, quantize(pred.mean(dim=1, keepdim=True)), pred_y)
        target_y = torch.where(mask, target[:, :1], target_y)
    if scale > 0:
        if min(pred.shape[-2:]) <= 2 * scale:
            raise ValueError(
                f"sr_eval_y: image {tuple(pred.shape[-2:])} too small to crop {scale}."
            )
        pred_y = pred_y[..., scale:-scale, scale:-scale]
        target_y = target_y[..., scale:-scale, scale:-scale]
    return pred_y, target_y


def y_psnr(pred: Tensor, target: Tensor, scale: int, gray: Tensor | None = None) -> Tensor:
    """Per-image Y-channel PSNR in dB, shape (B,)."""
    p, t = sr_eval_y(pred, target, scale, gray)
    return peak_signal_noise_ratio(p, t, data_range=1.0, reduction="none", dim=(1, 2, 3))


def y_ssim(pred: Tensor, target: Tensor, scale: int, gray: Tensor | None = None) -> Tensor:
    """Per-image Y-channel SSIM (Gaussian 11x11, sigma 1.5, valid window), shape (B,)."""
    p, t = sr_eval_y(pred, target, scale, gray)
    return structural_similarity_index_measure(
        p, t, gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=1.0, reduction="none"
    )


class _PerImageMean(Metric):
    """Mean over images of the per-image ``score`` (sum and count states, DDP-safe).

    ``scale`` is the SR factor, used as the border crop (0: no crop).
    """

    score = staticmethod(y_psnr)  # overridden by each subclass

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, scale: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale = int(scale)
        self.add_state(
            "total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum"
        )
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor, gray: Tensor | None = None) -> None:
        """Add a batch; ``gray``: optional (B,) mask of single-channel images (see module doc)."""
        values = type(self).score(preds.detach(), target.detach(), self.scale, gray)
        self.total += values.double().sum()
        self.count += values.numel()

    def compute(self) -> Tensor:
        return (self.total / self.count).float()


class YPSNR(_PerImageMean):
    """PSNR on BT.601 Y with ``scale`` border pixels cropped, averaged over images."""

    score = staticmethod(y_psnr)


class YSSIM(_PerImageMean):
    """SSIM on BT.601 Y with ``scale`` border pixels cropped, averaged over images."""

    score = staticmethod(y_ssim)
