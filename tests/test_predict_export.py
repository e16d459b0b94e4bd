"""Using trained checkpoints: load_task, restore.predict on user photos, restore.export to ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from restore.archs import EDSR
from restore.export import export, export_onnx, onnx_parity
from restore.imaging import read_image, to_array, write_image
from restore.inference.loading import load_task
from restore.predict import predict, restore_tensor
from restore.utils.build import build_task
from restore.utils.config import CHECKPOINT_CONFIG_KEY, to_container
from restore.utils.errors import ConfigError

from .conftest import compose_config
from .test_train import run_cli

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def ckpt(gray_dncnn_ckpt) -> Path:
    """A tiny gray DnCNN (4 layers: receptive field 9) trained for a few steps."""
    return gray_dncnn_ckpt


@pytest.fixture
def photos(tmp_path) -> Path:
    """A folder of user photos: 8-bit gray PNG, 16-bit colour PNG, JPEG, 16-bit gray TIFF."""
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(RNG.integers(0, 256, (90, 131), dtype=np.uint8)).save(folder / "gray.png")
    tifffile.imwrite(folder / "scan.tif", RNG.integers(0, 65536, (41, 57), dtype=np.uint16))
    colour = RNG.integers(0, 256, (40, 52, 3), dtype=np.uint8)
    Image.fromarray(colour).save(folder / "photo.jpg")
    write_image(folder / "deep.png", torch.rand(1, 3, 37, 45), 16)
    return folder


def predict_cfg(tmp_path, *overrides):
    return compose_config("predict", list(overrides), tmp_path / "run")


def test_load_task_rebuilds_the_trained_network(ckpt):
    task = load_task(ckpt)
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    assert type(task.net).__name__ == "DnCNN" and not task.training
    assert sum(isinstance(m, torch.nn.Conv2d) for m in task.net.modules()) == 4  # model.depth=4
    for name, value in task.net.state_dict().items():
        assert torch.equal(value, state[f"net.{name}"]), name
    assert task.run_config["model"]["weights"] is None


def test_load_task_errors(ckpt, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_task(tmp_path / "nope.ckpt")
    bare = tmp_path / "bare.ckpt"
    torch.save({"state_dict": torch.load(ckpt, weights_only=True)["state_dict"]}, bare)
    with pytest.raises(ConfigError, match="holds no restore config"):
        load_task(bare)
    (tmp_path / "junk.ckpt").write_bytes(b"junk")
    with pytest.raises(ConfigError, match="not a readable checkpoint"):
        load_task(tmp_path / "junk.ckpt")


def test_predict_restores_a_folder_keeping_names_formats_and_bit_depths(ckpt, photos, tmp_path):
    out = tmp_path / "restored"
    cfg = predict_cfg(
        tmp_path, f"ckpt_path={ckpt}", f"input={photos}", f"output={out}", "tile=48", "overlap=8"
    )
    written = predict(cfg)
    assert sorted(p.name for p in written) == ["deep.png", "gray.png", "photo.jpg", "scan.tif"]
    expected = {  # name -> (bit depth, size); the gray model writes gray
        "gray.png": (8, (90, 131)),
        "scan.tif": (16, (41, 57)),
        "photo.jpg": (8, (40, 52)),
        "deep.png": (16, (37, 45)),
    }
    for name, (bits, size) in expected.items():
        image = read_image(out / name)
        assert (image.bit_depth, image.mode, image.size) == (bits, "gray", size), name
    # tiled prediction (overlap 8 >= receptive radius 4) equals the network on the whole image
    task = load_task(ckpt)
    x = read_image(photos / "gray.png").tensor
    with torch.inference_mode():
        whole = to_array(task.restore(x), 8).astype(int)
    got = to_array(read_image(out / "gray.png").tensor, 8).astype(int)
    assert np.abs(got - whole).max() <= 1 and (got != whole).mean() < 1e-3
    assert np.abs(got - to_array(x, 8).astype(int)).mean() > 1  # it changed the image


def untrained_checkpoint(path: Path, *overrides: str) -> Path:
    """A checkpoint of a freshly built task (random weights) with its config, as train saves."""
    cfg = compose_config("train", list(overrides), path.parent)
    task = build_task(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": task.state_dict(), CHECKPOINT_CONFIG_KEY: to_container(cfg)}, path)
    return path


def test_predict_super_resolves_and_keeps_alpha(tmp_path):
    ckpt = untrained_checkpoint(
        tmp_path / "sr" / "sr.ckpt",
        "task=sr", "task.scale=2", "model=edsr_baseline", "model.n_blocks=1", "model.width=8",
        "data.channels=3",
    )  # fmt: skip
    photos = tmp_path / "in"
    photos.mkdir()
    rgba = RNG.integers(0, 256, (30, 41, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(photos / "icon.png")
    out = tmp_path / "out"
    cfg = predict_cfg(
        tmp_path, f"ckpt_path={ckpt}", f"input={photos}", f"output={out}", "tile=24", "overlap=7"
    )
    predict(cfg)
    with Image.open(out / "icon.png") as back:
        assert back.mode == "RGBA" and back.size == (82, 60)
        result = np.asarray(back).astype(int)
    task = load_task(ckpt)
    x = read_image(photos / "icon.png").tensor
    with torch.inference_mode():
        whole = to_array(task.restore(x), 8).astype(int)
    assert np.abs(result[..., :3] - whole).max() <= 1  # tiling is exact for EDSR's small field
    assert abs(result[..., 3].mean() - rgba[..., 3].mean()) < 3  # alpha up-scaled with the image
    # the demo degradation of an SR checkpoint is its bicubic downscale (of the even-sized crop)
    cfg = predict_cfg(
        tmp_path, f"ckpt_path={ckpt}", f"input={photos}", f"output={out}", "degrade=true"
    )
    predict(cfg)
    with Image.open(out / "degraded" / "icon.png") as lr, Image.open(out / "icon.png") as sr:
        assert (lr.size, sr.size) == ((20, 15), (40, 30))


def test_restore_tensor_in_bf16_is_close_to_fp32(ckpt):
    task = load_task(ckpt)
    x = torch.rand(1, 1, 70, 90)
    fp32 = restore_tensor(task, x, tile=48, overlap=8, precision="fp32")
    bf16 = restore_tensor(task, x, tile=48, overlap=8, precision="bf16")
    assert fp32.dtype == bf16.dtype == torch.float32
    assert 0 < (fp32 - bf16).abs().mean() < 0.02


def test_degrade_adds_the_checkpoint_noise_with_a_fixed_seed(ckpt, photos, tmp_path):
    runs = []
    for i in range(2):
        out = tmp_path / f"demo{i}"
        cfg = predict_cfg(
            tmp_path,
            f"ckpt_path={ckpt}",
            f"input={photos / 'gray.png'}",
            f"output={out}",
            "degrade=true",
        )
        predict(cfg)
        runs.append(to_array(read_image(out / "degraded" / "gray.png").tensor, 8).astype(float))
    np.testing.assert_array_equal(runs[0], runs[1])
    clean = np.asarray(Image.open(photos / "gray.png")).astype(float)
    residual = runs[0] - clean
    inside = (clean > 60) & (clean < 195)  # away from clipping at 0 and 255
    assert residual[inside].std() == pytest.approx(25, rel=0.1)  # the checkpoint's sigma=25


def test_predict_refuses_to_overwrite_its_inputs(ckpt, photos, tmp_path):
    cfg = predict_cfg(tmp_path, f"ckpt_path={ckpt}", f"input={photos}", f"output={photos}")
    with pytest.raises(ConfigError, match="input folder"):
        predict(cfg)
    cfg = predict_cfg(tmp_path, f"ckpt_path={ckpt}", f"input={photos}", "tile=64", "overlap=32")
    with pytest.raises(ConfigError, match="tile=64"):
        predict(cfg)
    cfg = predict_cfg(tmp_path, "ckpt_path=missing.ckpt", f"input={photos}")
    with pytest.raises(ConfigError, match=r"missing\.ckpt does not exist"):
        predict(cfg)
    cfg = predict_cfg(tmp_path, f"ckpt_path={ckpt}", f"input={photos}", "precision=fp8")
    with pytest.raises(ConfigError, match="precision=fp8"):
        predict(cfg)


def test_export_refuses_unknown_formats(ckpt, tmp_path):
    cfg = compose_config("export", [f"ckpt_path={ckpt}", "format=tflite"], tmp_path)
    with pytest.raises(ConfigError, match="only onnx is supported"):
        export(cfg)


def test_predict_cli(ckpt, photos, tmp_path):
    out = tmp_path / "cli_out"
    args = [f"ckpt_path={ckpt}", f"input={photos}", f"hydra.run.dir={tmp_path / 'hydra'}"]
    result = run_cli("restore.predict", *args, f"output={out}", "tile=64", "overlap=16")
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == [
        "deep.png",
        "gray.png",
        "photo.jpg",
        "scan.tif",
    ]
    assert (
        "photo.jpg is colour but the model is gray" in (tmp_path / "hydra/predict.log").read_text()
    )


def _ort_check(path: Path, net: torch.nn.Module, shape: tuple[int, ...]) -> tuple[tuple, float]:
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.rand(*shape)
    with torch.inference_mode():
        ref = net.float().eval()(x).numpy()
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    return got.shape, float(np.abs(got - ref).max())


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_export_onnx_with_dynamic_sizes_matches_pytorch(ckpt, tmp_path, exporter):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    out = tmp_path / "model.onnx"
    cfg = compose_config(
        "export", [f"ckpt_path={ckpt}", f"output={out}", f"exporter={exporter}"], tmp_path
    )
    assert export(cfg) == out
    model = onnx.load(str(out))
    assert model.opset_import[0].version >= 17
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["restore.in_channels"] == "1" and meta["restore.scale"] == "1"
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert all(d.dim_param for i, d in enumerate(dims) if i != 1)  # batch, height, width dynamic
    net = load_task(ckpt).net
    for shape in [(1, 1, 40, 56), (3, 1, 77, 65)]:
        got_shape, diff = _ort_check(out, net, shape)
        assert got_shape == shape and diff < 1e-4


def test_export_super_resolution_network(tmp_path):
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    net = EDSR(3, 3, scale=2, n_blocks=2, width=8).eval()
    export_onnx(net, tmp_path / "sr.onnx", channels=3, exporter="torchscript")
    assert onnx_parity(tmp_path / "sr.onnx", net, 3) < 1e-4
    shape, diff = _ort_check(tmp_path / "sr.onnx", net, (2, 3, 21, 34))
    assert shape == (2, 3, 42, 68) and diff < 1e-4


def test_export_cli(ckpt, tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "cli.onnx"
    result = run_cli(
        "restore.export",
        f"ckpt_path={ckpt}",
        "format=onnx",
        f"output={out}",
        f"hydra.run.dir={tmp_path / 'hydra'}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.is_file()
    log = (tmp_path / "hydra/export.log").read_text()
    assert "ONNX Runtime vs PyTorch: max abs diff" in log
