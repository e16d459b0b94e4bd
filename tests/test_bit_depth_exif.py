"""One reader and writer (``restore.imaging``): 16-bit files stay 16-bit and photos are upright by
their EXIF orientation in predict, pipeline and DIP alike; the data layer's 8-bit reader agrees."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from omegaconf import open_dict
from PIL import Image, ImageOps

from restore import imaging
from restore.dip.run import run as run_dip
from restore.pipeline import run_pipeline
from restore.predict import predict
from tests.conftest import compose_config
from tests.dip.test_dip import compose_dip

RNG = np.random.default_rng(0)
STORED = (20, 32)  # (height, width) as stored; EXIF orientation 6 shows it as 32 x 20
SHOWN = STORED[::-1]


def smooth16(shape: tuple[int, ...]) -> np.ndarray:
    """A smooth 16-bit image (restorable) with random low bits: not 8-bit levels times 257."""
    h, w = shape[:2]
    ramp = np.add.outer(np.linspace(0.2, 0.5, h), np.linspace(0.0, 0.3, w)) * 65535
    if len(shape) == 3:
        ramp = np.stack([ramp * (0.6 + 0.2 * c) for c in range(shape[2])], axis=2)
    return (ramp + RNG.integers(0, 256, shape)).astype(np.uint16)


def write16(path: Path, array: np.ndarray) -> Path:
    """A 16-bit PNG or TIFF written by OpenCV (RGB given, BGR stored)."""
    assert cv2.imwrite(str(path), array[..., ::-1] if array.ndim == 3 else array)
    return path


def write_rotated(path: Path, array: np.ndarray, orientation: int = 6) -> Path:
    """An 8-bit PNG or JPEG carrying an EXIF orientation tag (Pillow writes it)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(array).save(
        path, exif=exif.tobytes(), **({"quality": 95} if path.suffix == ".jpg" else {})
    )
    return path


def upright(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im))


def assert_16bit_kept(path: Path, shape: tuple[int, int]) -> None:
    """``path`` holds 16-bit samples that are not all 8-bit levels (multiples of 257)."""
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert array is not None and array.dtype == np.uint16, (
        path,
        None if array is None else array.dtype,
    )
    assert array.shape[:2] == shape, (path, array.shape)
    assert (array % 257 != 0).mean() > 0.5, path


def assert_upright(path: Path) -> None:
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert array.shape[:2] == SHOWN, (path, array.shape)


@pytest.fixture
def inputs(tmp_path) -> dict[str, Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    smooth8 = (smooth16(STORED) >> 8).astype(np.uint8)
    return {
        "png16": write16(folder / "deep.png", smooth16(STORED)),
        "tif16": write16(folder / "scan.tif", smooth16((*STORED, 3))),
        "png_exif": write_rotated(folder / "phone.png", smooth8),
        "jpg_exif": write_rotated(folder / "camera.jpg", np.dstack([smooth8] * 3)),
    }


# -- the reader itself -------------------------------------------------------------------------
def test_16bit_files_are_read_exactly_and_reduced_by_rounding(inputs):
    for key, mode in (("png16", "gray"), ("tif16", "rgb")):
        stored = cv2.imread(str(inputs[key]), cv2.IMREAD_UNCHANGED)
        stored = stored[..., ::-1] if stored.ndim == 3 else stored[..., None]
        image = imaging.read_image(inputs[key])
        assert (image.bit_depth, image.mode, image.pixels.dtype) == (16, mode, np.uint16)
        np.testing.assert_array_equal(image.pixels, stored)
        assert image.tensor.shape == (1, stored.shape[2], *STORED)
        torch.testing.assert_close(
            image.tensor[0], torch.from_numpy(stored.transpose(2, 0, 1) / 65535).float()
        )
        expected = np.round(stored.astype(np.float64) * 255 / 65535).astype(np.uint8)
        np.testing.assert_array_equal(imaging.read_uint8(inputs[key], stored.shape[2]), expected)
        assert imaging.image_info(inputs[key]) == (*STORED, mode == "gray")


@pytest.mark.parametrize("key", ["png_exif", "jpg_exif"])
def test_exif_orientation_everywhere_sizes_and_pixels(inputs, key):
    path = inputs[key]
    shown = upright(path)
    assert shown.shape[:2] == SHOWN
    assert imaging.image_info(path) == (*SHOWN, key == "png_exif")
    image = imaging.read_image(path)
    assert image.size == SHOWN
    if key == "png_exif":  # lossless: exact
        np.testing.assert_array_equal(image.pixels[..., 0], shown)
    assert imaging.read_uint8(path, 3).shape == (*SHOWN, 3)
    assert imaging.read_uint8(path, 1).shape == (*SHOWN, 1)


def test_data_reader_matches_pillow_on_palette_alpha_and_1bit(tmp_path):
    rgb = RNG.integers(0, 256, (9, 13, 3), dtype=np.uint8)
    cases = {
        "p.png": Image.fromarray(rgb).convert("P"),
        "la.png": Image.fromarray(np.dstack([rgb[..., 0], rgb[..., 1]]), "LA"),
        "rgba.png": Image.fromarray(np.dstack([rgb, rgb[..., :1]]), "RGBA"),
        "bits.png": Image.fromarray(rgb[..., 0] > 100),
    }
    for name, im in cases.items():
        im.save(tmp_path / name)
        gray = name in ("la.png", "bits.png")
        assert imaging.image_info(tmp_path / name) == (9, 13, gray), name
        for channels in (1, 3):
            expected = np.asarray(im.convert("L" if channels == 1 else "RGB"))
            got = imaging.read_uint8(tmp_path / name, channels)
            np.testing.assert_array_equal(got, expected.reshape(9, 13, channels), err_msg=name)
    assert imaging.read_image(tmp_path / "la.png").mode == "gray"  # OpenCV decodes LA as BGRA
    np.testing.assert_array_equal(imaging.read_image(tmp_path / "la.png").alpha, rgb[..., 1])


def test_to_chw_is_a_writable_contiguous_view_where_it_can_be():
    gray = np.zeros((4, 5, 1), np.uint8)
    t = imaging.to_chw(gray)
    assert t.shape == (1, 4, 5) and np.shares_memory(t.numpy(), gray)
    frozen = np.zeros((4, 5, 3), np.uint16)
    frozen.flags.writeable = False
    t = imaging.to_chw(frozen)
    assert t.shape == (3, 4, 5) and t.is_contiguous() and t.numpy().flags.writeable


# -- the entry points --------------------------------------------------------------------------
def test_predict_keeps_16_bits_and_writes_upright(gray_dncnn_ckpt, inputs, tmp_path):
    out = tmp_path / "predicted"
    cfg = compose_config(
        "predict", [f"ckpt_path={gray_dncnn_ckpt}", f"input={inputs['png16'].parent}"], tmp_path
    )
    with open_dict(cfg):
        cfg.output = str(out)
        cfg.device = "cpu"
    predict(cfg)
    assert_16bit_kept(out / "deep.png", STORED)
    assert_16bit_kept(out / "scan.tif", STORED)  # colour photo, gray model: its 16-bit luma
    assert_upright(out / "phone.png")
    assert_upright(out / "camera.jpg")


def test_pipeline_keeps_16_bits_and_writes_upright(inputs, tmp_path):
    out = tmp_path / "piped"
    cfg = compose_config(
        "pipeline",
        [
            f"input={inputs['png16'].parent}",
            f"output={out}",
            "~stages.denoise",
            "~stages.deblur",
            "~stages.sr",
            "device=cpu",
        ],
        tmp_path,
    )
    run_pipeline(cfg)
    assert_16bit_kept(out / "1_sharpen" / "deep.png", STORED)
    assert_16bit_kept(out / "1_sharpen" / "scan.png", STORED)
    assert_upright(out / "1_sharpen" / "phone.png")
    assert_upright(out / "1_sharpen" / "camera.png")
    written = cv2.imread(str(out / "1_sharpen" / "phone.png"), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint8  # an 8-bit input stays 8-bit


DIP_TINY = [
    "model.max_steps=4", "model.input_depth=2", "model.generator.num_scales=2",
    "model.generator.num_channels_down=4", "model.generator.num_channels_up=4",
    "model.early_stopping.window=2", "model.precision=32-true", "csv_log=false",
]  # fmt: skip


@pytest.mark.parametrize(("key", "shape", "bits"), [("png16", STORED, 16), ("png_exif", SHOWN, 8)])
def test_dip_keeps_16_bits_and_works_upright(inputs, tmp_path, key, shape, bits):
    summary = run_dip(compose_dip([f"image={inputs[key]}", *DIP_TINY]), out_dir=tmp_path / "dip")
    assert summary["size"] == list(shape) and summary["bit_depth"] == bits
    assert np.isfinite(summary["psnr"])
    for name in ("restored.png", "final.png", "observation.png"):
        path = tmp_path / "dip" / name
        if bits == 16:
            assert_16bit_kept(path, shape)
        else:
            written = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            assert written.dtype == np.uint8 and written.shape[:2] == shape
