"""Generator networks of Deep Image Prior: they map a fixed code ``z`` to an image.

Ulyanov, Vedaldi & Lempitsky, "Deep Image Prior", CVPR 2018 (and IJCV 2020). The networks follow
the authors' repository (DmitryUlyanov/deep-image-prior, ``models/``):

* :class:`Skip` is ``models/skip.py``, the encoder-decoder with skip connections used for almost
  every figure of the paper. The published defaults (denoising, super-resolution and the "kate"
  inpainting) are 5 scales of 128 down / 128 up channels, 4 skip channels, 3x3 down and up
  kernels, 1x1 skip kernels, reflection padding, BatchNorm, LeakyReLU(0.2), stride-2 convolution
  down-sampling, bilinear up-sampling and a sigmoid output.
* :class:`DIPUNet` is ``models/unet.py`` (the "hourglass with skips" the paper compares against):
  max-pool down, transposed-conv (or interpolation + conv) up, concatenated skips.
* :class:`ResNet` is ``models/resnet.py``: residual blocks at full resolution, no down-sampling.
* :class:`SegNet` (Badrinarayanan et al., TPAMI 2017) is not in the repository: an encoder-decoder
  whose decoder up-samples by max-unpooling with the encoder's pooling indices.

DIP runs the networks in training mode throughout (BatchNorm uses the statistics of the single
image), so nothing here needs an eval-mode path. Every generator accepts any (H, W): the code is
padded (reflect) to the multiple of 2**scales it needs (at least two multiples) and the output
cropped back. The original instead crops the images to multiples of 32; padding keeps every
pixel of the image.
"""

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restore.archs.utils import crop_to

Act = Literal["LeakyReLU", "ReLU", "ELU", "none"]
Pad = Literal["reflection", "zero"]


def _act(kind: Act) -> nn.Module:
    if kind == "LeakyReLU":
        return nn.LeakyReLU(0.2, inplace=True)
    if kind == "ReLU":
        return nn.ReLU(inplace=True)
    if kind == "ELU":
        return nn.ELU(inplace=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"act must be 'LeakyReLU', 'ReLU', 'ELU' or 'none', got {kind!r}")


def _conv(
    in_ch: int,
    out_ch: int,
    kernel: int,
    stride: int = 1,
    pad: Pad = "reflection",
    bias: bool = True,
) -> nn.Conv2d:
    """``conv`` of the original ``models/common.py``: same-size padding, reflect or zero.

    A kernel that needs no padding (1x1) gets none: the original puts ``ReflectionPad2d(0)``
    before it too, which copies the input in the forward and zero-fills and accumulates its
    gradient in the backward for the same numbers (benchmarks/dip_speed.py)."""
    if pad not in ("reflection", "zero"):
        raise ValueError(f"pad must be 'reflection' or 'zero', got {pad!r}")
    mode = "reflect" if pad == "reflection" and kernel > 1 else "zeros"
    return nn.Conv2d(
        in_ch,
        out_ch,
        kernel,
        stride=stride,
        padding=(kernel - 1) // 2,
        padding_mode=mode,
        bias=bias,
    )


def _as_list(value: int | list[int], n: int, name: str) -> list[int]:
    values = [int(value)] * n if isinstance(value, int) else [int(v) for v in value]
    if len(values) != n:
        raise ValueError(f"{name} must have one entry per scale ({n}), got {values}")
    return values


class _PadCrop(nn.Module):
    """Pads the input to a multiple of ``self.multiple`` and crops the output back."""

    multiple: int = 1
    min_cells: int = 2  # the deepest level's minimum size (in multiples)

    def body(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, z: Tensor) -> Tensor:
        h, w = z.shape[-2:]
        m = self.multiple
        # the next multiple of 2**scales, and at least `min_cells` of them: the deepest level
        # must be larger than the reflect padding of its convolutions (2x2 for 3x3 kernels) and
        # than 1x1 for training-mode BatchNorm
        c = self.min_cells
        ph, pw = max(-(-h // m), c) * m - h, max(-(-w // m), c) * m - w
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            z = F.pad(z, (0, pw, 0, ph), mode=mode)
        return crop_to(self.body(z), (h, w))


class _SkipLevel(nn.Module):
    """One scale of :class:`Skip`: ``cat(skip(x), up(deeper(down(x))))`` then the up convs."""

    def __init__(
        self,
        in_ch: int,
        down: int,
        up: int,
        skip: int,
        deeper_up: int | None,
        k_down: int,
        k_up: int,
        k_skip: int,
        pad: Pad,
        act: Act,
        upsample_mode: str,
        downsample_mode: str,
        need1x1_up: bool,
        deeper: nn.Module | None,
    ):
        super().__init__()
        bn = nn.BatchNorm2d
        self.skip = (
            nn.Sequential(_conv(in_ch, skip, k_skip, pad=pad), bn(skip), _act(act))
            if skip
            else None
        )
        if downsample_mode == "stride":
            first = [_conv(in_ch, down, k_down, stride=2, pad=pad)]
        elif downsample_mode in ("avg", "max"):
            pool = nn.AvgPool2d(2) if downsample_mode == "avg" else nn.MaxPool2d(2)
            first = [_conv(in_ch, down, k_down, pad=pad), pool]
        else:
            raise ValueError(
                f"downsample_mode must be 'stride', 'avg' or 'max', got {downsample_mode!r}"
            )
        layers = [
            *first,
            bn(down),
            _act(act),
            _conv(down, down, k_down, pad=pad),
            bn(down),
            _act(act),
        ]
        if deeper is not None:
            layers.append(deeper)
        align = False if upsample_mode in ("bilinear", "bicubic") else None
        layers.append(nn.Upsample(scale_factor=2, mode=upsample_mode, align_corners=align))
        self.deeper = nn.Sequential(*layers)
        k = deeper_up if deeper is not None else down
        post = [
            bn(skip + k),
            _conv(skip + k, up, k_up, pad=pad),
            bn(up),
            _act(act),
        ]
        if need1x1_up:
            post += [_conv(up, up, 1, pad=pad), bn(up), _act(act)]
        self.post = nn.Sequential(*post)

    def forward(self, x: Tensor) -> Tensor:
        y = self.deeper(x)
        if self.skip is not None:
            y = torch.cat([self.skip(x), y], dim=1)
        return self.post(y)


class Skip(_PadCrop):
    """The skip encoder-decoder of DIP (``models/skip.py``), built recursively as the original.

    Args:
        in_channels: channels of the code ``z`` (``input_depth``: 32 for noise, 2 for meshgrid).
        out_channels: image channels.
        num_channels_down / num_channels_up / num_channels_skip: per-scale widths (an int repeats
            it over ``num_scales``); a skip width of 0 drops that skip connection.
        filter_size_down / filter_size_up / filter_skip_size: kernel sizes.
        upsample_mode: "bilinear" (denoising, SR) or "nearest" (inpainting).
        downsample_mode: "stride" (stride-2 conv), "avg" or "max" (conv then pooling).
        need1x1_up: a 1x1 conv block after each up conv (original default True).
        need_sigmoid: sigmoid output in [0, 1].
    """

    def __init__(
        self,
        in_channels: int = 32,
        out_channels: int = 3,
        num_scales: int = 5,
        num_channels_down: int | list[int] = 128,
        num_channels_up: int | list[int] = 128,
        num_channels_skip: int | list[int] = 4,
        filter_size_down: int = 3,
        filter_size_up: int = 3,
        filter_skip_size: int = 1,
        pad: Pad = "reflection",
        act: Act = "LeakyReLU",
        upsample_mode: str = "bilinear",
        downsample_mode: str = "stride",
        need1x1_up: bool = True,
        need_sigmoid: bool = True,
    ):
        super().__init__()
        n = num_scales
        down = _as_list(num_channels_down, n, "num_channels_down")
        up = _as_list(num_channels_up, n, "num_channels_up")
        skip = _as_list(num_channels_skip, n, "num_channels_skip")
        self.multiple = 2**n
        self.min_cells = max(2, (filter_size_down - 1) // 2 + 1)
        level: nn.Module | None = None
        for i in reversed(range(n)):  # build from the deepest scale outwards
            level = _SkipLevel(
                in_ch=in_channels if i == 0 else down[i - 1],
                down=down[i],
                up=up[i],
                skip=skip[i],
                deeper_up=up[i + 1] if i < n - 1 else None,
                k_down=filter_size_down,
                k_up=filter_size_up,
                k_skip=filter_skip_size,
                pad=pad,
                act=act,
                upsample_mode=upsample_mode,
                downsample_mode=downsample_mode,
                need1x1_up=need1x1_up,
                deeper=level,
            )
        self.levels = level
        self.head = nn.Sequential(
            _conv(up[0], out_channels, 1, pad=pad), nn.Sigmoid() if need_sigmoid else nn.Identity()
        )

    def body(self, z: Tensor) -> Tensor:
        return self.head(self.levels(z))


class _UNetConv(nn.Sequential):
    """``unetConv2``: (conv 3x3 -> norm -> ReLU) x 2; no norm when ``norm`` is False."""

    def __init__(self, in_ch: int, out_ch: int, norm: bool, pad: Pad, act: Act):
        def block(i: int, o: int) -> list[nn.Module]:
            return [
                _conv(i, o, 3, pad=pad),
                nn.BatchNorm2d(o) if norm else nn.Identity(),
                _act(act),
            ]

        super().__init__(*block(in_ch, out_ch), *block(out_ch, out_ch))


class DIPUNet(_PadCrop):
    """The U-Net hourglass of the DIP repository (``models/unet.py``, ``feature_scale=4``).

    Widths ``width * 2**i`` for ``i = 0..depth`` (16, 32, 64, 128, 256 by default), 2x2 max-pool
    down-sampling, up-sampling by a 4x4 stride-2 transposed conv ("deconv") or interpolation + 3x3
    conv, concatenated skips, normalisation in the encoder only (as the original), sigmoid output.
    The original's norm is InstanceNorm2d; BatchNorm here, which on DIP's batch of one in training
    mode normalises each channel over the image in the same way, plus an affine.
    """

    def __init__(
        self,
        in_channels: int = 32,
        out_channels: int = 3,
        depth: int = 4,
        width: int = 16,
        upsample_mode: Literal["deconv", "bilinear", "nearest"] = "deconv",
        pad: Pad = "reflection",
        act: Act = "ReLU",
        need_sigmoid: bool = True,
    ):
        super().__init__()
        widths = [width * 2**i for i in range(depth + 1)]
        self.multiple = 2**depth
        self.start = _UNetConv(in_channels, widths[0], True, pad, act)
        self.downs = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), _UNetConv(widths[i], widths[i + 1], True, pad, act))
            for i in range(depth)
        )
        self.ups = nn.ModuleList()
        self.up_convs = nn.ModuleList()
        for i in reversed(range(depth)):
            if upsample_mode == "deconv":
                up = nn.ConvTranspose2d(widths[i + 1], widths[i], 4, stride=2, padding=1)
            elif upsample_mode in ("bilinear", "nearest"):
                align = False if upsample_mode == "bilinear" else None
                up = nn.Sequential(
                    nn.Upsample(scale_factor=2, mode=upsample_mode, align_corners=align),
                    _conv(widths[i + 1], widths[i], 3, pad=pad),
                )
            else:
                raise ValueError(
                    f"upsample_mode must be deconv, bilinear or nearest, got {upsample_mode!r}"
                )
            self.ups.append(up)
            self.up_convs.append(_UNetConv(2 * widths[i], widths[i], False, pad, act))
        self.head = nn.Sequential(
            _conv(widths[0], out_channels, 1, pad=pad),
            nn.Sigmoid() if need_sigmoid else nn.Identity(),
        )

    def body(self, z: Tensor) -> Tensor:
        x = self.start(z)
        skips = []
        for down in self.downs:
            skips.append(x)
            x = down(x)
        for up, conv, skip in zip(self.ups, self.up_convs, reversed(skips), strict=True):
            x = conv(torch.cat([up(x), skip], dim=1))
        return self.head(x)


class _Residual(nn.Module):
    def __init__(self, channels: int, act: Act, pad: Pad):
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels, 3, pad=pad, bias=False),
            nn.BatchNorm2d(channels),
            _act(act),
            _conv(channels, channels, 3, pad=pad, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResNet(nn.Module):
    """The full-resolution residual generator of the DIP repository (``models/resnet.py``).

    conv 3x3 -> act, ``num_blocks`` residual blocks (conv-BN-act-conv-BN + identity), conv-BN,
    conv 3x3 to the image, sigmoid. Defaults are those of the repository's ``get_net``
    (10 blocks of 16 channels). No down-sampling, so any size works without padding.
    """

    def __init__(
        self,
        in_channels: int = 32,
        out_channels: int = 3,
        num_blocks: int = 10,
        num_channels: int = 16,
        act: Act = "LeakyReLU",
        pad: Pad = "reflection",
        need_sigmoid: bool = True,
    ):
        super().__init__()
        self.net = nn.Sequential(
            _conv(in_channels, num_channels, 3, pad=pad),
            _act(act),
            *(_Residual(num_channels, act, pad) for _ in range(num_blocks)),
            _conv(num_channels, num_channels, 3, pad=pad),
            nn.BatchNorm2d(num_channels),
            _conv(num_channels, out_channels, 3, pad=pad),
            nn.Sigmoid() if need_sigmoid else nn.Identity(),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class SegNet(_PadCrop):
    """SegNet encoder-decoder (Badrinarayanan, Kendall & Cipolla, TPAMI 2017) as a DIP generator.

    Each encoder level is two conv-BN-act blocks and a 2x2 max-pool that returns its indices; the
    mirrored decoder level max-unpools with those indices (no learned up-sampling, no skip
    features) and applies two conv-BN-act blocks. A 1x1 conv and a sigmoid give the image.
    """

    def __init__(
        self,
        in_channels: int = 32,
        out_channels: int = 3,
        widths: list[int] | None = None,
        act: Act = "ReLU",
        pad: Pad = "reflection",
        need_sigmoid: bool = True,
    ):
        super().__init__()
        widths = list(widths or [64, 128, 128, 128])
        self.multiple = 2 ** len(widths)

        def block(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(_conv(i, o, 3, pad=pad, bias=False), nn.BatchNorm2d(o), _act(act))

        ins = [in_channels, *widths[:-1]]
        self.encoders = nn.ModuleList(
            nn.Sequential(block(i, o), block(o, o)) for i, o in zip(ins, widths, strict=True)
        )
        # decoder level i maps widths[i] back to widths[i - 1] (widths[0] at the top)
        outs = [widths[0], *widths[:-1]]
        self.decoders = nn.ModuleList(
            nn.Sequential(block(w, w), block(w, o)) for w, o in zip(widths, outs, strict=True)
        )
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2)
        self.head = nn.Sequential(
            _conv(widths[0], out_channels, 1, pad=pad),
            nn.Sigmoid() if need_sigmoid else nn.Identity(),
        )

    def body(self, z: Tensor) -> Tensor:
        x = z
        indices = []
        for enc in self.encoders:
            x, idx = self.pool(enc(x))
            indices.append(idx)
        for dec, idx in zip(reversed(self.decoders), reversed(indices), strict=True):
            # MaxUnpool2d does not support channels_last inputs consistently: indices are
            # positions in the (contiguous) H*W plane, so unpool in the default layout.
            x = dec(self.unpool(x.contiguous(), idx.contiguous()))
        return self.head(x)
