"""Conditional convolutional VAE for image restoration.

A variational auto-encoder (Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014) whose
encoder sees the degraded image y and produces a spatial Gaussian latent (down-sampled by
2**depth); the decoder maps a sample z back to an image, conditioned on y through skip features of
a second, deterministic encoder of y (as in a conditional VAE, Sohn et al., NeurIPS 2015, where the
decoder gets the condition), and adds y back (global residual). Training samples
``z = mu + eps * exp(logvar / 2)`` (reparameterisation trick); evaluation decodes ``z = mu``.
"""

import torch
from torch import Tensor, nn

from restore.archs.utils import crop_to, group_norm, pad_to_multiple

# Clamp of the log-variance, as in latent-diffusion's DiagonalGaussianDistribution: keeps
# exp(logvar) finite early in training.
LOGVAR_RANGE = (-30.0, 20.0)


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), averaged over all elements (a scalar).

    Per element: ``0.5 * (mu**2 + exp(logvar) - 1 - logvar)``; zero exactly when mu=0, logvar=0.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean()


class ConvBlock(nn.Sequential):
    """(conv 3x3 -> GroupNorm -> SiLU) x 2; the first conv may stride by 2 to down-sample."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            group_norm(out_channels),
            nn.SiLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            group_norm(out_channels),
            nn.SiLU(),
        )


class Encoder(nn.Module):
    """Full-resolution block then ``depth`` stride-2 blocks; returns the features of every level."""

    def __init__(self, in_channels: int, chans: list[int]):
        super().__init__()
        self.blocks = nn.ModuleList([ConvBlock(in_channels, chans[0])])
        self.blocks.extend(
            ConvBlock(chans[i], chans[i + 1], stride=2) for i in range(len(chans) - 1)
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats


class ConditionalVAE(nn.Module):
    """Convolutional VAE conditioned on the degraded image.

    Args:
        in_channels, out_channels: image channels (1 gray, 3 color).
        width: channels of the full-resolution level; level ``i`` has ``width * 2**i``.
        latent_channels: channels of the latent, of size (H / 2**depth, W / 2**depth).
        depth: number of 2x down-sampling steps; the input is padded to a multiple of 2**depth.

    ``forward(y)`` returns ``(image, {"mu": mu, "logvar": logvar})`` in training mode, for the
    KL term of the loss (:func:`kl_divergence`), and the image decoded from ``z = mu`` in eval
    mode. The global residual ``image = y + decoded`` applies when in and out channels match.
    """

    @staticmethod
    def default_loss() -> nn.Module:
        """Reconstruction + beta KL: L1 + 0.2 (1 - SSIM) + 1e-4 TV + 1e-3 KL (``loss=default``)."""
        from restore.losses import L1Loss, LossSum
        from restore.losses.pixel import KLDivergenceLoss, TotalVariationLoss
        from restore.losses.structural import SSIMLoss

        terms = {
            "l1": L1Loss(),
            "ssim": SSIMLoss(),
            "tv": TotalVariationLoss(),
            "kl": KLDivergenceLoss(),
        }
        return LossSum(terms, {"l1": 1.0, "ssim": 0.2, "tv": 1e-4, "kl": 1e-3})

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 32,
        latent_channels: int = 16,
        depth: int = 3,
    ):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.depth = depth
        self.residual = in_channels == out_channels
        chans = [width * 2**i for i in range(depth + 1)]
        # Posterior q(z | y): encoder + 1x1 head giving mu and logvar.
        self.encoder = Encoder(in_channels, chans)
        self.to_moments = nn.Conv2d(chans[-1], 2 * latent_channels, kernel_size=1)
        # Deterministic encoder of the condition y: skip features for the decoder.
        self.cond_encoder = Encoder(in_channels, chans)
        self.from_latent = nn.Conv2d(latent_channels, chans[-1], 3, padding=1)
        self.bottleneck = ConvBlock(2 * chans[-1], chans[-1])
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(chans[i + 1], chans[i], kernel_size=2, stride=2)
            for i in range(depth)
        )
        self.dec = nn.ModuleList(ConvBlock(2 * chans[i], chans[i]) for i in range(depth))
        self.out = nn.Conv2d(chans[0], out_channels, 3, padding=1)
        if self.residual:
            # Start near the identity map y -> y: the last layer is initialised 0.1x smaller (as
            # ESRGAN, Wang et al. 2018, does for its residual blocks). Not zero, which would cut
            # off the gradient of every other layer at the first step.
            with torch.no_grad():
                self.out.weight.mul_(0.1)
                self.out.bias.mul_(0.1)

    def encode(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """Latent mean and (clamped) log-variance of a padded image."""
        mu, logvar = self.to_moments(self.encoder(y)[-1]).chunk(2, dim=1)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        """Decode a latent, conditioned on the (padded) degraded image ``y``."""
        skips = self.cond_encoder(y)
        h = self.bottleneck(torch.cat([self.from_latent(z), skips[-1]], dim=1))
        for i in reversed(range(self.depth)):
            h = self.dec[i](torch.cat([self.up[i](h), skips[i]], dim=1))
        return self.out(h)

    def forward(self, y: Tensor) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        yp, size = pad_to_multiple(y, 2**self.depth)
        mu, logvar = self.encode(yp)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        out = crop_to(self.decode(z, yp), size)
        if self.residual:
            out = y + out
        if self.training:
            return out, {"mu": mu, "logvar": logvar}
        return out
