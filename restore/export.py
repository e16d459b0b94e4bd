"""Export a trained network to ONNX: ``python -m restore.export ckpt_path=... output=model.onnx``.

The graph takes ``input`` (N, C, H, W) float32 in [0, 1] with dynamic batch, height and width and
returns ``output`` (N, C_out, H * scale, W * scale). The ``torch.export``-based exporter
(``dynamo=True``) is tried first; models it cannot trace with symbolic sizes fall back to the
TorchScript exporter (``exporter=auto``). The exported file is then checked against PyTorch through
ONNX Runtime on two image sizes. The model config is stored in the file's metadata.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn

from restore.inference.loading import load_task, model_channels
from restore.utils.cli import clean_errors
from restore.utils.config import CONFIG_DIR
from restore.utils.errors import ConfigError

log = logging.getLogger(__name__)

EXPORTERS = ("auto", "dynamo", "torchscript")
DYNAMIC_AXES = {0: "batch", 2: "height", 3: "width"}


def _export_dynamo(
    net: nn.Module, example: torch.Tensor, path: Path, opset: int, axes: dict[int, str]
) -> None:
    for name in ("onnxscript", "onnx_ir"):  # their optimiser passes log every step at INFO
        logging.getLogger(name).setLevel(logging.WARNING)
    dims = {i: torch.export.Dim(name, min=1) for i, name in axes.items()}
    program = torch.onnx.export(
        net,
        (example,),
        dynamo=True,
        input_names=["input"],
        output_names=["output"],
        opset_version=opset,
        dynamic_shapes=(dims,),
        external_data=False,
        verbose=False,
    )
    program.save(str(path))


def _export_torchscript(
    net: nn.Module, example: torch.Tensor, path: Path, opset: int, axes: dict[int, str]
) -> None:
    torch.onnx.export(
        net,
        (example,),
        str(path),
        dynamo=False,
        input_names=["input"],
        output_names=["output"],
        opset_version=opset,
        dynamic_axes={"input": axes, "output": axes},
        do_constant_folding=True,
    )


def export_onnx(
    net: nn.Module,
    path: str | Path,
    channels: int,
    opset: int = 18,
    exporter: str = "auto",
    size: tuple[int, int] | None = None,
    metadata: dict[str, str] | None = None,
) -> str:
    """Write ``net`` (eval mode, float32) to ``path``; returns the exporter that succeeded.

    ``size=None`` makes batch, height and width dynamic; ``size=(H, W)`` fixes the image size
    (batch stays dynamic) for networks whose graph depends on it (windowed attention).
    """
    if exporter not in EXPORTERS:
        raise ConfigError(f"exporter={exporter}: choose one of {', '.join(EXPORTERS)}")
    if opset < 17:
        raise ConfigError(f"opset={opset}: use 17 or newer")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = copy.deepcopy(net).float().eval().to("cpu", memory_format=torch.contiguous_format)
    # Batch 2 and odd, unequal sizes: tracing specialises sizes of 1, equal sizes, and the
    # "already a multiple, no padding needed" branch of archs that pad to a multiple internally.
    height, width = size or (67, 75)
    example = torch.rand(2, channels, height, width)
    axes = DYNAMIC_AXES if size is None else {0: "batch"}
    used = None
    if exporter in ("auto", "dynamo"):
        try:
            _export_dynamo(net, example, path, opset, axes)
            used = "dynamo"
        except Exception as err:
            if exporter == "dynamo":
                raise
            log.warning(
                "dynamo export failed (%s): using the TorchScript exporter",
                re.sub(r"\x1b\[[0-9;]*m", "", str(err).splitlines()[0]),
            )
    if used is None:
        _export_torchscript(net, example, path, opset, axes)
        used = "torchscript"
    if metadata:
        import onnx  # a dependency of torch.onnx.export; imported late to keep the CLI light

        model = onnx.load(str(path))
        for key, value in metadata.items():
            model.metadata_props.add(key=key, value=value)
        onnx.save(model, str(path))
    return used


def onnx_parity(
    path: str | Path,
    net: nn.Module,
    channels: int,
    sizes: Sequence[tuple[int, int, int]] = ((1, 64, 80), (2, 97, 131)),
    seed: int = 0,
) -> float:
    """Largest |ONNX Runtime - PyTorch| over random inputs of ``sizes`` (batch, height, width).

    Raises:
        ConfigError: the graph cannot run at one of the sizes (it fixed a size while tracing).
    """
    import onnxruntime as ort  # optional: only needed to check an export

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    net = copy.deepcopy(net).float().eval().cpu()
    generator = torch.Generator().manual_seed(seed)
    worst = 0.0
    for batch, height, width in sizes:
        x = torch.rand(batch, channels, height, width, generator=generator)
        with torch.inference_mode():
            ref = net(x).numpy()
        try:
            (got,) = session.run(["output"], {"input": x.numpy()})
        except Exception as err:  # ONNX Runtime raises its own Fail/InvalidArgument types
            raise ConfigError(
                f"the exported graph fails on a {batch}x{channels}x{height}x{width} input: the "
                f"network fixed a size while tracing; export with size=[H, W]. ({err})"
            ) from None
        if got.shape != ref.shape:
            raise AssertionError(f"ONNX output {got.shape} != PyTorch {ref.shape} for {x.shape}")
        worst = max(worst, float(np.abs(got - ref).max()))
    return worst


def export(cfg: DictConfig) -> Path:
    """Export ``cfg.ckpt_path`` as configured; checks parity when ``cfg.check``."""
    if cfg.format != "onnx":
        raise ConfigError(f"format={cfg.format}: only onnx is supported")
    task = load_task(cfg.ckpt_path)
    stored = task.run_config or {}
    # what the network takes, which can exceed the image's channels (inpainting adds the mask)
    channels = int((stored.get("model") or {}).get("in_channels") or model_channels(task))
    size = tuple(int(v) for v in cfg.size) if cfg.get("size") else None
    metadata = {
        "restore.in_channels": str(channels),
        "restore.scale": str(task.scale),
        "restore.model": json.dumps(stored.get("model", {})),
        "restore.checkpoint": Path(cfg.ckpt_path).name,
        "restore.size": "dynamic" if size is None else f"{size[0]}x{size[1]}",
    }
    out = Path(cfg.output)
    used = export_onnx(task.net, out, channels, int(cfg.opset), cfg.exporter, size, metadata)
    log.info("exported %s with the %s exporter (opset %d)", out, used, cfg.opset)
    if cfg.check:
        try:
            sizes = ((1, 64, 80), (2, 97, 131)) if size is None else ((1, *size), (2, *size))
            diff = onnx_parity(out, task.net, channels, sizes)
        except ImportError:
            log.warning("onnxruntime is not installed: parity with PyTorch not checked")
        else:
            log.info("ONNX Runtime vs PyTorch: max abs diff %.3g on two sizes", diff)
            if diff > cfg.tolerance:
                raise ConfigError(
                    f"the exported model differs from PyTorch by {diff:.3g} (> tolerance "
                    f"{cfg.tolerance}): try exporter=torchscript or another opset"
                )
    return out


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="export")
@clean_errors
def main(cfg: DictConfig) -> None:
    export(cfg)


if __name__ == "__main__":
    main()
