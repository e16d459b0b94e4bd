"""Conditional gated PixelCNN as a denoiser (van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves,
Kavukcuoglu: "Conditional Image Generation with PixelCNN Decoders", NeurIPS 2016).

The clean image x is modelled autoregressively, pixel by pixel in raster order and, for colour,
channel by channel (R -> G -> B) within a pixel, each sub-pixel a categorical over 256 intensities:

    p(x | y) = prod_{i, c} p(x_{i,c} | x_{<i}, x_{i,<c}, y)

The degraded image y is the conditioning: a small non-causal convolutional network maps it to
features that are added inside every gate (the paper's conditional variant with a spatial,
location-dependent conditioning map, its Eq. 5 with ``V * s`` a 1x1 convolution of ``s = m(y)``).

Causality, as in the paper's gated PixelCNN (no blind spot):

* the vertical stack sees only the rows strictly above the current one. Its first layer reads the
  input shifted down by one row; every layer is a (p+1) x k convolution (p = k // 2) covering the
  current and p rows above, so a vertical feature at row r depends on x rows [r-1-(l+1)p, r-1].
* the horizontal stack sees the pixels to the left in the current row and the current pixel
  through channel-group masks (type A in the first layer, B afterwards, as in PixelRNN/PixelCNN:
  feature channels are split into C groups; a group-g output sees input groups < g (A) or <= g
  (B) at the current pixel); its 1 x (p+1) convolutions and its 1x1 convolutions are masked so.
  The vertical pre-activations feed the horizontal stack through a 1x1 convolution.

Hence the logits at pixel (r, c) depend on x only inside rows [r-1-L*p, r] and columns
[c-L*p, c+L*p] (L = n_layers), excluding the current pixel's own and later channels. The tests
check all of this with gradients.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

DecodeMode = Literal["greedy", "sample", "expected"]
LEVELS = 256


def _groups(n: int, n_groups: int) -> Tensor:
    """Group id of each of ``n`` feature channels split into ``n_groups`` contiguous groups."""
    return torch.arange(n) * n_groups // n


def _gate(x: Tensor, dim: int) -> Tensor:
    """Gated activation tanh(a) * sigmoid(b), a and b the two halves of ``x`` along ``dim``."""
    a, b = x.chunk(2, dim=dim)
    return torch.tanh(a) * torch.sigmoid(b)


class MaskedConv2d(nn.Conv2d):
    """A 1 x kw convolution whose last (rightmost) column is the current pixel.

    The columns left of it are the pixels to the left (always visible); in the current-pixel
    column an output channel of group g sees input channels of group < g (``mask_type="A"``) or
    <= g (``"B"``). ``in_groups``/``out_groups`` give the group id of each channel. Used with a
    left padding of kw - 1 (done by the caller) and no padding of its own.
    """

    def __init__(
        self,
        in_groups: Tensor,
        out_groups: Tensor,
        kw: int,
        mask_type: Literal["A", "B"],
    ):
        super().__init__(len(in_groups), len(out_groups), (1, kw))
        if mask_type == "A":
            center = out_groups[:, None] > in_groups[None, :]
        elif mask_type == "B":
            center = out_groups[:, None] >= in_groups[None, :]
        else:
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        mask = torch.ones_like(self.weight)
        mask[:, :, 0, -1] = center.to(mask.dtype)
        self.register_buffer("mask", mask, persistent=False)

    def masked_weight(self) -> Tensor:
        return self.weight * self.mask

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.masked_weight(), self.bias)


class GatedBlock(nn.Module):
    """One gated layer (paper Fig. 2) with its vertical and horizontal stacks and conditioning.

    ``first=True``: the input is the image (C channels, type-A mask, no residual); the vertical
    stack input must then already be shifted down by one row by the caller.
    """

    def __init__(self, in_ch: int, width: int, n_groups: int, kernel_size: int, first: bool):
        super().__init__()
        p = kernel_size // 2
        self.p, self.first, self.width = p, first, width
        feat = _groups(width, n_groups)
        in_groups = torch.arange(in_ch) if first else feat
        self.v_conv = nn.Conv2d(in_ch, 2 * width, (p + 1, kernel_size))
        self.h_conv = MaskedConv2d(in_groups, feat.repeat(2), p + 1, "A" if first else "B")
        self.v_to_h = nn.Conv2d(2 * width, 2 * width, 1)
        self.h_out = MaskedConv2d(feat, feat, 1, "B")

    def forward(
        self, v: Tensor, h: Tensor, cond_v: Tensor, cond_h: Tensor
    ) -> tuple[Tensor, Tensor]:
        """``v`` is the vertical input padded by p rows on top and p columns either side (for the
        first block: the image padded by p+1 rows on top with its last row dropped); ``h`` is
        the unpadded horizontal input. Returns the vertical and horizontal outputs (unpadded)."""
        p = self.p
        v_pre = self.v_conv(v) + cond_v
        h_pre = self.h_conv(F.pad(h, (p, 0, 0, 0))) + self.v_to_h(v_pre) + cond_h
        h_new = self.h_out(_gate(h_pre, 1))
        if not self.first:
            h_new = h_new + h
        return _gate(v_pre, 1), h_new


class PixelCNN(nn.Module):
    """Conditional gated PixelCNN p(x | y) with 256-way categorical outputs, used as a denoiser.

    ``forward(y, target)`` in training mode teacher-forces the clean ``target`` and returns
    ``(expected_image, {"logits": logits})``, logits of shape (B, C, 256, H, W) (train it with
    :class:`restore.losses.nll.CategoricalNLL`). The task must pass the target: the class sets
    ``needs_target = True``.

    In eval mode ``forward(y)`` restores y according to ``decode``:

    * ``"greedy"``: real autoregressive decoding, argmax of every sub-pixel in raster order;
    * ``"sample"``: the same, sampling from softmax(logits / temperature);
    * ``"expected"``: a one-pass shortcut, not a decoding: teacher forcing on y itself and the
      expectation of the categoricals. Cheap, but not what the model was trained to do.

    Any H and W work (all convolutions are size-preserving, none strided), so no padding.
    """

    needs_target = True

    @staticmethod
    def default_loss() -> nn.Module:
        """Per-pixel NLL of the clean intensities (what ``loss=default`` uses)."""
        from restore.losses import LossSum
        from restore.losses.nll import CategoricalNLL

        return LossSum({"nll": CategoricalNLL()})

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int | None = None,
        width: int = 64,
        n_layers: int = 8,
        kernel_size: int = 5,
        cond_width: int = 64,
        cond_layers: int = 3,
        decode: DecodeMode = "greedy",
        temperature: float = 1.0,
    ):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f"PixelCNN kernel_size must be odd and >= 3, got {kernel_size}")
        if n_layers < 1 or cond_layers < 1:
            raise ValueError("PixelCNN n_layers and cond_layers must be >= 1")
        if width < out_channels:
            raise ValueError(
                f"PixelCNN width ({width}) must be >= out_channels ({out_channels}): every "
                "colour channel needs its own group of features"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.width, self.n_layers, self.p = width, n_layers, kernel_size // 2
        self.decode, self.temperature = decode, temperature
        self._check_decode(decode, temperature)

        cond: list[nn.Module] = []
        for i in range(cond_layers):
            cin = in_channels if i == 0 else cond_width
            cond += [nn.Conv2d(cin, cond_width, 3, padding=1, padding_mode="replicate"), nn.ReLU()]
        self.cond_net = nn.Sequential(*cond)
        # one 1x1 projection for all layers: per layer 2*width for the vertical gate, 2*width for
        # the horizontal gate (the paper's V_{f,k}^T s and V_{g,k}^T s, for both stacks)
        self.cond_proj = nn.Conv2d(cond_width, n_layers * 4 * width, 1)

        self.blocks = nn.ModuleList(
            GatedBlock(out_channels if i == 0 else width, width, out_channels, kernel_size, i == 0)
            for i in range(n_layers)
        )
        feat = _groups(width, out_channels)
        self.head1 = MaskedConv2d(feat, feat, 1, "B")
        self.head2 = MaskedConv2d(feat, _groups(out_channels * LEVELS, out_channels), 1, "B")

    @staticmethod
    def _check_decode(decode: str, temperature: float) -> None:
        if decode not in ("greedy", "sample", "expected"):
            raise ValueError(
                f"PixelCNN decode must be 'greedy', 'sample' or 'expected', got {decode!r}"
            )
        if not temperature > 0:
            raise ValueError(f"PixelCNN temperature must be > 0, got {temperature}")

    # ----------------------------------------------------------------------------------------
    # full (teacher-forced) pass
    def conditioning(self, y: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Per layer, the (vertical, horizontal) conditioning maps, each (B, 2*width, H, W)."""
        if y.shape[1] != self.in_channels:
            raise ValueError(f"PixelCNN expects {self.in_channels} input channels, got {y.shape}")
        s = self.cond_proj(self.cond_net(2 * y - 1))
        return [tuple(c.chunk(2, dim=1)) for c in s.chunk(self.n_layers, dim=1)]

    def logits(self, y: Tensor, x: Tensor) -> Tensor:
        """Teacher-forced logits (B, C, 256, H, W) of the clean image ``x`` given ``y``."""
        if x.shape[1] != self.out_channels or x.shape[-2:] != y.shape[-2:]:
            raise ValueError(
                f"PixelCNN target must be (B, {self.out_channels}, H, W) with y's H, W; got "
                f"target {tuple(x.shape)} for y {tuple(y.shape)}"
            )
        return self.ar_logits(x, self.conditioning(y))

    def ar_logits(self, x: Tensor, cond: list[tuple[Tensor, Tensor]]) -> Tensor:
        """The autoregressive stacks on ``x`` given precomputed :meth:`conditioning` maps."""
        p = self.p
        x = 2 * x - 1
        v = F.pad(x, (p, p, p + 1, 0))[:, :, :-1]  # shifted down one row: strictly above
        h = x
        for block, (cv, ch) in zip(self.blocks, cond, strict=True):
            v, h = block(v, h, cv, ch)
            v = F.pad(v, (p, p, p, 0))
        out = self.head2(F.relu(self.head1(F.relu(h))))
        b, _, hh, ww = out.shape
        return out.view(b, self.out_channels, LEVELS, hh, ww)

    @staticmethod
    def expectation(logits: Tensor) -> Tensor:
        """Mean intensity in [0, 1] of the categoricals (B, C, 256, H, W) -> (B, C, H, W)."""
        levels = torch.arange(LEVELS, device=logits.device, dtype=logits.dtype) / (LEVELS - 1)
        return torch.einsum("bckhw,k->bchw", logits.softmax(dim=2), levels)

    def forward(self, y: Tensor, target: Tensor | None = None) -> Tensor | tuple[Tensor, dict]:
        if self.training:
            if target is None:
                raise ValueError(
                    "PixelCNN in training mode needs the clean image: call net(y, target=clean) "
                    "(the net sets needs_target = True); eval mode decodes from y alone"
                )
            # teacher forcing on the quantised target: the decoder only ever sees k / 255
            target = torch.round(target.clamp(0, 1) * (LEVELS - 1)) / (LEVELS - 1)
            logits = self.logits(y, target)
            return self.expectation(logits), {"logits": logits}
        return self.restore(y, self.decode, self.temperature)

    # ----------------------------------------------------------------------------------------
    # decoding
    def restore(self, y: Tensor, decode: DecodeMode = "greedy", temperature: float = 1.0) -> Tensor:
        """Restore ``y`` with the given decoding (see the class docstring); no gradients."""
        self._check_decode(decode, temperature)
        if decode == "expected":
            with torch.no_grad():
                return self.expectation(self.logits(y, y.clamp(0, 1)))
        return self.autoregressive_decode(y, sample=decode == "sample", temperature=temperature)[0]

    # a Python loop over every sub-pixel: keep torch.compile (task.compile) out of it
    @torch.compiler.disable
    def autoregressive_decode(
        self, y: Tensor, sample: bool = False, temperature: float = 1.0
    ) -> tuple[Tensor, Tensor]:
        """Decode x ~ p(x | y) sub-pixel by sub-pixel (greedy argmax, or sampling).

        Returns the image (B, C, H, W) in {0, 1/255, ..., 1} and the logits (B, C, 256, H, W)
        the decoder used for each sub-pixel (equal, up to float rounding, to
        ``self.logits(y, image)``: the teacher-forced pass on its own output).

        Incremental scheme (the "fast PixelCNN" caching idea of Ramachandran et al. 2017, in its
        simplest form). Recomputing the full image, or even only the causal window of rows
        [r-1-L*p, r] (and columns [c-L*p, c+L*p]), for every sub-pixel still costs a window-sized
        forward pass per sub-pixel. Instead every activation is computed exactly once:

        * vertical stack: its row r depends only on rows < r, so at the start of row r it is
          computed for the whole row, for all layers, by one (p+1) x k convolution per layer over
          cached vertical outputs of the rows above. Its contribution to the horizontal gates
          (1x1 link + conditioning, cached once for the whole image) is stored for the row.
        * horizontal stack: at pixel (r, c) each layer needs only its input at columns
          [c-p, c] of row r (cached per layer for the current row) and the row's vertical
          contribution at c, so every layer is a single matrix product on a (p+1)*width vector.
          For colour the per-pixel stack is rerun once per channel with the channels decoded so
          far (masks make logits of channel k ignore channels >= k); the last run leaves exact
          caches, since no feature depends on the last channel of its own pixel.

        The cost is one full pass worth of arithmetic plus ~10 small ops per layer per sub-pixel,
        so it is bound by per-op overhead; all images of the batch are decoded together.
        benchmarks/pixelcnn_decode.py (default model, 1 CPU thread, batch 1): 64x64 colour in
        ~3 s, against ~6 min extrapolated for the row window and ~30 min for full recompute.
        """
        self._check_decode("sample" if sample else "greedy", temperature)
        with torch.inference_mode():
            image, logits = self._decode(y, sample, temperature)
        # clone out of inference mode so that callers may modify the results in place
        return image.clone(), logits.clone()

    def _decode(self, y: Tensor, sample: bool, temperature: float) -> tuple[Tensor, Tensor]:
        p, w, n_layers, n_ch = self.p, self.width, self.n_layers, self.out_channels
        bsz, _, height, width_img = y.shape
        dev, dt = y.device, self.cond_proj.weight.dtype
        y = y.to(dt)
        cond = self.conditioning(y)  # cached once for the whole image

        # per-pixel weights of the horizontal stack as matrices acting on flattened windows
        h_w, h_b, lk_w, lk_b, res_w, res_b = [], [], [], [], [], []
        for i, blk in enumerate(self.blocks):
            wt = blk.h_conv.masked_weight()[:, :, 0, :]  # (2w, cin, p+1)
            # layer 0 reads x windows as (cin, p+1); later layers read (p+1, w) windows of a
            # channel-last cache
            wt = wt.reshape(2 * w, -1) if i == 0 else wt.permute(0, 2, 1).reshape(2 * w, -1)
            h_w.append(wt.t().contiguous())
            h_b.append(blk.h_conv.bias)
            lk_w.append(blk.v_to_h.weight[:, :, 0, 0])
            lk_b.append(blk.v_to_h.bias)
            res_w.append(blk.h_out.masked_weight()[:, :, 0, 0].t().contiguous())
            res_b.append(blk.h_out.bias)
        hd1_w = self.head1.masked_weight()[:, :, 0, 0].t().contiguous()
        hd2_w = self.head2.masked_weight()[:, :, 0, 0].view(n_ch, LEVELS, w)
        hd2_w = [hd2_w[k].t().contiguous() for k in range(n_ch)]
        hd2_b = self.head2.bias.view(n_ch, LEVELS)

        # caches. x in network scaling (2x - 1), p+1 zero rows on top, p zero columns each side
        xbuf = torch.zeros(bsz, n_ch, height + p + 1, width_img + 2 * p, device=dev, dtype=dt)
        # vertical outputs of layers 0..L-2, p zero rows on top, p zero columns each side
        vbuf = [
            torch.zeros(bsz, w, height + p, width_img + 2 * p, device=dev, dtype=dt)
            for _ in range(n_layers - 1)
        ]
        # horizontal outputs of layers 0..L-2 for the current row, channel-last, p zero columns
        # on the left (never written, so they stay zero from row to row)
        hrow = [
            torch.zeros(bsz, width_img + p, w, device=dev, dtype=dt) for _ in range(n_layers - 1)
        ]
        image = torch.zeros(bsz, n_ch, height, width_img, device=dev, dtype=dt)
        all_logits = torch.zeros(bsz, n_ch, LEVELS, height, width_img, device=dev, dtype=dt)
        scale = 2.0 / (LEVELS - 1)

        for r in range(height):
            # vertical stack for row r, all layers; horizontal additive terms per layer
            hadd = []
            v_in = xbuf[:, :, r : r + p + 1]
            for i, blk in enumerate(self.blocks):
                v_pre = blk.v_conv(v_in) + cond[i][0][:, :, r : r + 1]  # (B, 2w, 1, W)
                add = F.conv2d(v_pre, lk_w[i][:, :, None, None]) + cond[i][1][:, :, r : r + 1]
                add = add + (lk_b[i] + h_b[i])[None, :, None, None]
                hadd.append(add[:, :, 0].permute(2, 0, 1).contiguous())  # (W, B, 2w)
                if i < n_layers - 1:
                    vbuf[i][:, :, r + p, p : p + width_img] = _gate(v_pre[:, :, 0], 1)
                    v_in = vbuf[i][:, :, r : r + p + 1]
            xrow = xbuf[:, :, r + p + 1]  # (B, C, W + 2p)
            for c in range(width_img):
                x_win = xrow[:, :, c : c + p + 1]
                for k in range(n_ch):
                    pre = torch.addmm(hadd[0][c], x_win.reshape(bsz, -1), h_w[0])
                    h = torch.addmm(res_b[0], _gate(pre, 1), res_w[0])
                    for i in range(1, n_layers):
                        hrow[i - 1][:, c + p] = h
                        win = hrow[i - 1][:, c : c + p + 1].reshape(bsz, -1)
                        pre = torch.addmm(hadd[i][c], win, h_w[i])
                        h = torch.addmm(res_b[i], _gate(pre, 1), res_w[i]).add_(h)
                    o = torch.relu(torch.addmm(self.head1.bias, torch.relu(h), hd1_w))
                    lg = torch.addmm(hd2_b[k], o, hd2_w[k])  # (B, 256)
                    all_logits[:, k, :, r, c] = lg
                    if sample:
                        probs = torch.softmax(lg / temperature, dim=-1)
                        val = torch.multinomial(probs, 1)[:, 0]
                    else:
                        val = lg.argmax(dim=-1)
                    val = val.to(dt)
                    image[:, k, r, c] = val / (LEVELS - 1)
                    xrow[:, k, c + p] = val * scale - 1
        return image, all_logits
