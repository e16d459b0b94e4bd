"""Structure-aware loss terms: 1 - SSIM and an L1 loss between Sobel edge magnitudes."""

import kornia
import torch
from torch import Tensor, nn


class SSIMLoss(nn.Module):
    """``1 - SSIM(pred, target)``, the mean SSIM over pixels, channels and batch.

    Wang et al., "Image Quality Assessment: From Error Visibility to Structural Similarity",
    IEEE TIP 2004; Zhao et al., "Loss Functions for Image Restoration with Neural Networks",
    IEEE TCI 2017. Uses ``kornia.metrics.ssim`` (Gaussian window, sigma 1.5, reflect padding, which
    computes its moments in float32 even under autocast). ``kornia.losses.ssim_loss`` is not used
    because it returns ``(1 - SSIM) / 2``. ``eps=0`` in the denominator keeps identical images at
    exactly 0 (the constants c1, c2 already keep it positive). Needs H and W > window_size // 2.
    """

    def __init__(self, window_size: int = 11, max_val: float = 1.0):
        super().__init__()
        if window_size < 3 or window_size % 2 == 0:
            raise ValueError(f"SSIMLoss window_size must be odd and >= 3, got {window_size}")
        self.window_size = int(window_size)
        self.max_val = float(max_val)

    def forward(self, pred: Tensor, target: Tensor, **aux: Tensor) -> Tensor:
        ssim_map = kornia.metrics.ssim(
            pred, target, self.window_size, max_val=self.max_val, eps=0.0, padding="same"
        )
        return 1.0 - ssim_map.float().mean()


class SobelEdgeLoss(nn.Module):
    """L1 distance between the Sobel gradient magnitudes of ``pred`` and ``target``.

    Edge loss as used for deblurring, e.g. Zamir et al., "Multi-Stage Progressive Image
    Restoration" (MPRNet), CVPR 2021 (there with a Laplacian; here ``kornia.filters.sobel``,
    normalised kernels, magnitude per channel). Computed in float32 with autocast disabled.
    """

    def forward(self, pred: Tensor, target: Tensor, **aux: Tensor) -> Tensor:
        with torch.autocast(pred.device.type, enabled=False):
            edges_pred = kornia.filters.sobel(pred.float())
            edges_target = kornia.filters.sobel(target.float())
            return torch.nn.functional.l1_loss(edges_pred, edges_target)
