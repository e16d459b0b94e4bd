"""Photos read into [0, 1] tensors and written back with their format, bit depth and mode."""

from __future__ import annotations

import logging
import struct

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image, ImageOps

from restore.imaging import read_image, to_array, write_image
from restore.inference.image_io import list_inputs, match_channels, to_mode
from restore.utils.errors import DataError

RNG = np.random.default_rng(0)


def random_image(shape, bits):
    return RNG.integers(0, 2**bits, shape, dtype=np.uint8 if bits == 8 else np.uint16)


def levels(tensor: torch.Tensor, bits: int) -> np.ndarray:
    """The tensor back as integers, HxW or HxWxC, RGB order."""
    return to_array(tensor, bits)


def png_header(path) -> tuple[int, int]:
    """(bit depth, colour type) straight from the PNG IHDR chunk (2: RGB, 0: gray)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    depth, colour = struct.unpack(">BB", data[24:26])
    return depth, colour


def test_16bit_gray_png_is_read_and_written_exactly(tmp_path):
    array = random_image((33, 47), 16)
    Image.fromarray(array).save(tmp_path / "in.png")  # Pillow writes it: an independent encoder
    image = read_image(tmp_path / "in.png")
    assert (image.bit_depth, image.mode, image.tensor.shape) == (16, "gray", (1, 1, 33, 47))
    assert (
        image.tensor.dtype == torch.float32 and 0 <= image.tensor.min() <= image.tensor.max() <= 1
    )
    np.testing.assert_array_equal(levels(image.tensor, 16), array)
    out = write_image(tmp_path / "out.png", image.tensor, image.bit_depth)
    assert png_header(out) == (16, 0)
    with Image.open(out) as back:
        np.testing.assert_array_equal(np.asarray(back), array)


def test_16bit_rgb_png_round_trips_exactly_in_rgb_order(tmp_path):
    array = random_image((21, 30, 3), 16)
    array[0, 0] = (65535, 0, 0)  # a red pixel: channel order is RGB, not OpenCV's BGR
    x = torch.from_numpy(array.transpose(2, 0, 1).astype(np.float32) / 65535)[None]
    out = write_image(tmp_path / "c.png", x, 16)
    assert png_header(out) == (16, 2)
    image = read_image(out)
    assert (image.bit_depth, image.mode) == (16, "rgb")
    assert image.tensor[0, :, 0, 0].tolist() == [1.0, 0.0, 0.0]
    np.testing.assert_array_equal(levels(image.tensor, 16), array)


def test_8bit_rgb_png_from_pillow_is_exact(tmp_path):
    array = random_image((17, 19, 3), 8)
    Image.fromarray(array, "RGB").save(tmp_path / "c8.png")
    image = read_image(tmp_path / "c8.png")
    assert (image.bit_depth, image.mode) == (8, "rgb")
    np.testing.assert_array_equal(levels(image.tensor, 8), array)
    write_image(tmp_path / "again.png", image.tensor, 8)
    with Image.open(tmp_path / "again.png") as back:
        assert back.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(back), array)


@pytest.mark.parametrize("shape", [(25, 31), (25, 31, 3)])
def test_16bit_tiff_gray_and_colour(tmp_path, shape):
    array = random_image(shape, 16)
    tifffile.imwrite(tmp_path / "in.tif", array, photometric="rgb" if len(shape) == 3 else None)
    image = read_image(tmp_path / "in.tif")
    assert image.bit_depth == 16 and image.mode == ("rgb" if len(shape) == 3 else "gray")
    np.testing.assert_array_equal(levels(image.tensor, 16), array)
    out = write_image(tmp_path / "out.tiff", image.tensor, 16)
    np.testing.assert_array_equal(levels(read_image(out).tensor, 16), array)
    if len(shape) == 2:  # Pillow reads 16-bit gray TIFF (not colour): an independent decoder
        with Image.open(out) as back:
            np.testing.assert_array_equal(np.asarray(back), array)


def test_jpeg_is_8bit_and_close_after_a_round_trip(tmp_path):
    smooth = np.linspace(0, 255, 64 * 48 * 3).reshape(64, 48, 3).astype(np.uint8)
    Image.fromarray(smooth).save(tmp_path / "p.jpg", quality=98)
    image = read_image(tmp_path / "p.jpg")
    assert (image.bit_depth, image.mode) == (8, "rgb")
    with Image.open(tmp_path / "p.jpg") as pil:
        decoded = np.asarray(pil).astype(int)
    assert np.abs(levels(image.tensor, 8).astype(int) - decoded).max() <= 2
    out = write_image(tmp_path / "q.jpeg", image.tensor, 8, jpeg_quality=95)
    with Image.open(out) as back:
        assert back.format == "JPEG"
        mse = np.mean((np.asarray(back).astype(float) - decoded) ** 2)
    assert 10 * np.log10(255**2 / mse) > 38


def test_16bit_image_written_as_jpeg_is_reduced_to_8bit(tmp_path, caplog):
    x = torch.rand(1, 3, 8, 8)
    with caplog.at_level(logging.WARNING):
        write_image(tmp_path / "a.jpg", x, 16)
    assert "8 bits only" in caplog.text
    assert read_image(tmp_path / "a.jpg").bit_depth == 8


def test_alpha_is_kept_aside_and_written_back(tmp_path):
    rgba = random_image((9, 11, 4), 8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    image = read_image(tmp_path / "a.png")
    assert image.mode == "rgb" and image.tensor.shape[1] == 3
    np.testing.assert_array_equal(image.alpha, rgba[..., 3])
    write_image(tmp_path / "b.png", image.tensor, 8, alpha=image.alpha)
    with Image.open(tmp_path / "b.png") as back:
        assert back.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(back), rgba)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_viewers_show_it(tmp_path, orientation):
    array = random_image((6, 10, 3), 8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(array).save(tmp_path / "phone.png", exif=exif.tobytes())
    with Image.open(tmp_path / "phone.png") as pil:
        upright = np.asarray(ImageOps.exif_transpose(pil))
    image = read_image(tmp_path / "phone.png")
    np.testing.assert_array_equal(levels(image.tensor, 8), upright)


def test_to_array_clips_and_rounds():
    x = torch.tensor([-0.2, 0.0, 0.5, 1 / 255 * 0.49, 1.0, 1.3]).view(1, 1, 1, 6)
    assert to_array(x, 8).tolist() == [[0, 0, 128, 0, 255, 255]]
    assert to_array(x, 16).tolist() == [[0, 0, 32768, 126, 65535, 65535]]


def test_channel_conversions_and_their_log_lines(caplog):
    rgb = torch.randint(0, 256, (1, 3, 5, 6)) / 255  # an 8-bit photo
    with caplog.at_level(logging.INFO):
        gray = match_channels(rgb, 1, "photo.png")
    assert "photo.png is colour but the model is gray" in caplog.text
    # the one policy: BT.601 luma rounded to the image's 8-bit levels (restore.imaging)
    expected = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    torch.testing.assert_close(gray[:, 0], expected, atol=0.5 / 255 + 1e-4, rtol=0)
    assert torch.equal(gray * 255, (gray * 255).round())
    caplog.clear()
    with caplog.at_level(logging.INFO):
        colour = match_channels(gray, 3, "g.png")
    assert "g.png is gray but the model is colour" in caplog.text
    assert colour.shape == (1, 3, 5, 6) and torch.equal(colour[:, 2], gray[:, 0])
    assert match_channels(rgb, 3) is rgb
    torch.testing.assert_close(to_mode(colour, "gray"), gray, atol=1e-4, rtol=0)  # gray again
    assert to_mode(gray, "rgb") is gray  # lost colour is not invented


def test_unreadable_inputs_raise_data_errors(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"broken\.png"):
        read_image(tmp_path / "broken.png")
    with pytest.raises(DataError, match="does not exist"):
        read_image(tmp_path / "missing.png")
    tifffile.imwrite(tmp_path / "float.tif", np.zeros((4, 4), np.float32))
    with pytest.raises(DataError, match="8- and 16-bit"):
        read_image(tmp_path / "float.tif")
    with pytest.raises(DataError, match="supported formats"):
        read_image(tmp_path / "notes.txt")


def test_list_inputs(tmp_path):
    (tmp_path / "b.PNG").write_bytes(b"")
    (tmp_path / "a.tif").write_bytes(b"")
    (tmp_path / "readme.txt").write_text("x")
    assert [p.name for p in list_inputs(tmp_path)] == ["a.tif", "b.PNG"]
    assert list_inputs(tmp_path / "a.tif") == [tmp_path / "a.tif"]
    with pytest.raises(DataError, match="does not exist"):
        list_inputs(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="holds no images"):
        list_inputs(empty)
