"""CvT restoration network.

Wu, Xiao, Codella, Liu, Dai, Yuan & Zhang, "CvT: Introducing Convolutions to Vision
Transformers", ICCV 2021. The two ideas of the paper are kept as published:

* **Convolutional token embedding**: every stage starts with an overlapping (kernel 3) strided
  convolution followed by LayerNorm, which produces that stage's token map.
* **Convolutional projection**: Q, K and V are each a depthwise-separable convolution of the token
  map (depthwise 3x3 conv -> BatchNorm -> pointwise/linear), with stride ``kv_stride`` (2 in the
  paper) for K and V, which cuts the number of keys, and the attention cost, by ``kv_stride**2``.

Blocks are pre-norm residual: ``x + MHA(LN(x))`` then ``x + MLP(LN(x))``.

For restoration the stages (1/1, 1/2, 1/4 resolution by default) form the encoder of a U-shaped
network: the decoder up-samples by pixel shuffle, concatenates the encoder skip, re-embeds the
tokens with a (stride 1) convolutional token embedding and runs CvT blocks again; a 3x3 conv
maps to the image, and a global residual adds the input (``output = input + net(input)``).

Attention over all tokens of a full-resolution image is quadratic in the number of pixels, so by
default it is computed inside non-overlapping ``window_size`` x ``window_size`` windows of query
tokens; each query window attends to the K/V tokens of the same image area (a
``window_size / kv_stride`` window of the subsampled K/V map). ``window_size=None`` gives the
global attention of the paper. See benchmarks/cvt_memory.py for the cost of both.
"""

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restore.archs.utils import crop_to, pad_to_multiple


def _to_windows(x: Tensor, window: int, heads: int) -> Tensor:
    """(B, H, W, C), H and W multiples of ``window`` -> (B * nWin, heads, window**2, C // heads)."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, heads, c // heads)
    x = x.permute(0, 1, 3, 5, 2, 4, 6)
    return x.reshape(-1, heads, window * window, c // heads)


def _from_windows(x: Tensor, window: int, b: int, h: int, w: int) -> Tensor:
    """Inverse of :func:`_to_windows`: (B * nWin, heads, window**2, d) -> (B, H, W, heads * d)."""
    heads, d = x.shape[1], x.shape[3]
    x = x.view(b, h // window, w // window, heads, window, window, d)
    x = x.permute(0, 1, 4, 2, 5, 3, 6)
    return x.reshape(b, h, w, heads * d)


def window_attention(
    q: Tensor, k: Tensor, v: Tensor, heads: int, window_size: int | None, kv_stride: int
) -> Tensor:
    """Multi-head scaled dot-product attention on token maps.

    Args:
        q: queries (B, H, W, C); k, v: keys/values (B, Hk, Wk, C) with ``Hk = ceil(H / kv_stride)``
            (the output size of a kernel-3, padding-1 conv of stride ``kv_stride``).
        heads: number of heads, dividing C.
        window_size: None for global attention (every query sees every key). Otherwise queries
            are grouped in non-overlapping ``window_size``-side windows and each window attends
            to the ``window_size // kv_stride``-side window of K/V covering the same image area.
            The maps are zero-padded to a multiple of the window and the padded keys are masked
            out, so that padding never changes the result (a window that covers the whole map
            gives exactly global attention); padded queries are cropped away.
        kv_stride: spatial stride between the query map and the K/V map.

    Returns:
        (B, H, W, C).
    """
    b, h, w, c = q.shape
    hk, wk = k.shape[1:3]
    if window_size is None:
        qs, ks, vs = (
            t.reshape(b, -1, heads, c // heads).transpose(1, 2) for t in (q, k, v)
        )  # (B, heads, N, d)
        out = F.scaled_dot_product_attention(qs, ks, vs)
        return out.transpose(1, 2).reshape(b, h, w, c)

    kv_window = window_size // kv_stride
    nh, nw = math.ceil(h / window_size), math.ceil(w / window_size)
    hp, wp = nh * window_size, nw * window_size
    hkp, wkp = nh * kv_window, nw * kv_window
    if hk > hkp or wk > wkp:  # cannot happen with ceil-sized K/V maps; guards misuse
        raise ValueError(f"K/V map {(hk, wk)} larger than its windows {(hkp, wkp)}")
    # Zero-padding (not reflection) is right here: padded keys are masked, padded queries cropped.
    q = F.pad(q, (0, 0, 0, wp - w, 0, hp - h))
    k = F.pad(k, (0, 0, 0, wkp - wk, 0, hkp - hk))
    v = F.pad(v, (0, 0, 0, wkp - wk, 0, hkp - hk))
    qw = _to_windows(q, window_size, heads)
    kw = _to_windows(k, kv_window, heads)
    vw = _to_windows(v, kv_window, heads)
    mask = None
    if hkp != hk or wkp != wk:
        valid = torch.zeros(1, hkp, wkp, 1, dtype=torch.bool, device=q.device)
        valid[:, :hk, :wk] = True
        # (nWin, 1, 1, Lk), tiled over the batch: True = may attend. Every window holds at least
        # one valid key (windows start inside the map), so no softmax row is fully masked.
        mask = _to_windows(valid, kv_window, 1).transpose(2, 3).repeat(b, 1, 1, 1)
    out = F.scaled_dot_product_attention(qw, kw, vw, attn_mask=mask)
    return _from_windows(out, window_size, b, hp, wp)[:, :h, :w]


class ConvEmbed(nn.Module):
    """Convolutional token embedding: overlapping strided conv, then LayerNorm over channels.

    Maps (B, C_in, H, W) to a token map (B, H', W', dim) (channels last).
    """

    def __init__(self, in_channels: int, dim: int, kernel_size: int = 3, stride: int = 1):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size, stride, padding=kernel_size // 2)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


def _conv_projection(dim: int, stride: int) -> nn.Sequential:
    """Depthwise part of the separable conv projection: dw conv 3x3 (stride) -> BatchNorm.

    The pointwise part is the following ``nn.Linear`` (as in the official CvT code).
    """
    return nn.Sequential(
        nn.Conv2d(dim, dim, 3, stride, padding=1, groups=dim, bias=False),
        nn.BatchNorm2d(dim),
    )


class ConvAttention(nn.Module):
    """Multi-head self-attention with convolutional projections for Q, K and V."""

    def __init__(self, dim: int, heads: int, kv_stride: int = 2, window_size: int | None = 16):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads, self.kv_stride, self.window_size = heads, kv_stride, window_size
        self.conv_q = _conv_projection(dim, 1)
        self.conv_k = _conv_projection(dim, kv_stride)
        self.conv_v = _conv_projection(dim, kv_stride)
        self.proj_q = nn.Linear(dim, dim)
        self.proj_k = nn.Linear(dim, dim)
        self.proj_v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        """(B, H, W, C) -> (B, H, W, C)."""
        xc = x.permute(0, 3, 1, 2)
        q = self.proj_q(self.conv_q(xc).permute(0, 2, 3, 1))
        k = self.proj_k(self.conv_k(xc).permute(0, 2, 3, 1))
        v = self.proj_v(self.conv_v(xc).permute(0, 2, 3, 1))
        out = window_attention(q, k, v, self.heads, self.window_size, self.kv_stride)
        return self.proj(out)


class CvTBlock(nn.Module):
    """Pre-norm transformer block: ``x + Attn(LN(x))``, then ``x + MLP(LN(x))``."""

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_ratio: float = 2,
        kv_stride: int = 2,
        window_size: int | None = 16,
    ):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = ConvAttention(dim, heads, kv_stride, window_size)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class CvT(nn.Module):
    """U-shaped CvT restoration network with a global residual.

    Args:
        in_channels, out_channels: image channels (1 gray, 3 color).
        dims, depths, heads: width, number of CvT blocks and attention heads of each stage;
            stage ``i`` works at 1 / 2**i resolution. The decoder repeats ``depths[i]`` blocks at
            every level but the deepest.
        window_size: side, in tokens of each stage, of the attention windows; None for global
            attention. Must be a multiple of ``kv_stride``.
        kv_stride: stride of the K/V convolutional projections (2 in the paper).
        mlp_ratio: hidden width of the MLP relative to the stage width.

    The input is reflect-padded to a multiple of ``2**(len(dims) - 1)`` and cropped back. The
    residual ``input + net(input)`` is applied when ``in_channels == out_channels``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        dims: Sequence[int] = (32, 64, 128),
        depths: Sequence[int] = (1, 2, 2),
        heads: Sequence[int] = (1, 2, 4),
        window_size: int | None = 16,
        kv_stride: int = 2,
        mlp_ratio: float = 2,
    ):
        super().__init__()
        dims, depths, heads = list(dims), list(depths), list(heads)
        if not (len(dims) == len(depths) == len(heads)) or not dims:
            raise ValueError(f"dims, depths, heads differ in length: {dims}, {depths}, {heads}")
        if kv_stride < 1:
            raise ValueError(f"kv_stride must be >= 1, got {kv_stride}")
        if window_size is not None and (window_size < 1 or window_size % kv_stride):
            raise ValueError(
                f"window_size ({window_size}) must be a positive multiple of "
                f"kv_stride ({kv_stride})"
            )
        self.n_stages = len(dims)
        self.residual = in_channels == out_channels

        def blocks(i: int) -> nn.Sequential:
            return nn.Sequential(
                *(
                    CvTBlock(dims[i], heads[i], mlp_ratio, kv_stride, window_size)
                    for _ in range(depths[i])
                )
            )

        self.embeds = nn.ModuleList(
            ConvEmbed(in_channels if i == 0 else dims[i - 1], dims[i], 3, 1 if i == 0 else 2)
            for i in range(self.n_stages)
        )
        self.encoder = nn.ModuleList(blocks(i) for i in range(self.n_stages))
        # Decoder level i (i < n_stages - 1): pixel-shuffle x2 from level i + 1, concat skip,
        # convolutional token embedding (stride 1) back to dims[i], CvT blocks.
        self.ups = nn.ModuleList(
            nn.Sequential(nn.Conv2d(dims[i + 1], dims[i] * 4, 1), nn.PixelShuffle(2))
            for i in range(self.n_stages - 1)
        )
        self.fuse = nn.ModuleList(
            ConvEmbed(2 * dims[i], dims[i], 3, 1) for i in range(self.n_stages - 1)
        )
        self.decoder = nn.ModuleList(blocks(i) for i in range(self.n_stages - 1))
        self.norm_out = nn.LayerNorm(dims[0])
        self.head = nn.Conv2d(dims[0], out_channels, 3, padding=1)
        # CvT's initialisation: truncated normal (std 0.02) for the linear layers, zero biases.
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        # Near-zero (not zero: every parameter must still get a gradient) output conv, so that the
        # untrained network is close to the identity through the global residual. PyTorch's
        # default init adds a correction of std ~0.5 to the image, which costs tens of training
        # steps to undo (measured: 60 Adam steps denoise to ~23 dB instead of ~30 dB).
        nn.init.trunc_normal_(self.head.weight, std=2e-3)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: Tensor) -> Tensor:
        xp, size = pad_to_multiple(x, 2 ** (self.n_stages - 1))
        skips = []
        h = xp
        for i in range(self.n_stages):
            t = self.encoder[i](self.embeds[i](h))  # (B, H_i, W_i, dims[i])
            h = t.permute(0, 3, 1, 2)
            skips.append(h)
        for i in reversed(range(self.n_stages - 1)):
            up = self.ups[i](h)
            t = self.decoder[i](self.fuse[i](torch.cat([skips[i], up], dim=1)))
            h = t.permute(0, 3, 1, 2)
        out = self.head(self.norm_out(h.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))
        out = crop_to(out, size)
        return x + out if self.residual else out
