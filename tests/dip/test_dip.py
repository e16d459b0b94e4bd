"""Deep Image Prior (restore.dip): generators, Lanczos downsampler, ES-WMV, module, CLI."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from PIL import Image
from skimage import data

from restore.degradations import BicubicDownsample, GaussianNoise
from restore.dip import ESWMV, DIPModule, DIPUNet, LanczosDownsampler, ResNet, SegNet, Skip
from restore.dip.method import _Steps
from restore.dip.run import build_problem, psnr_in, run
from restore.utils.config import CONFIG_DIR, PROJECT_ROOT


def camera_crop(size: int = 32) -> torch.Tensor:
    """A (1, 1, size, size) crop of skimage's bundled cameraman, in [0, 1]."""
    img = data.camera()
    top, left = 120, 200  # the face and the camera: edges and flat areas
    crop = img[top : top + size, left : left + size].astype(np.float32) / 255
    return torch.from_numpy(crop)[None, None]


def tiny_skip(in_channels: int = 8, out_channels: int = 1) -> Skip:
    return Skip(
        in_channels,
        out_channels,
        num_scales=3,
        num_channels_down=16,
        num_channels_up=16,
        num_channels_skip=4,
    )


def compose_dip(overrides: list[str]):
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return compose("dip", overrides=overrides)


# -- generators --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "net",
    [
        tiny_skip(8, 3),
        Skip(
            8,
            3,
            num_scales=2,
            num_channels_down=8,
            num_channels_up=8,
            num_channels_skip=0,
            upsample_mode="nearest",
            downsample_mode="avg",
            need1x1_up=False,
        ),
        # the inpainting notebook's "library" net: 5x5 down kernels, no skips, no 1x1 up
        Skip(
            8,
            3,
            num_scales=3,
            num_channels_down=[4, 8, 8],
            num_channels_up=[4, 8, 8],
            num_channels_skip=0,
            filter_size_down=5,
            need1x1_up=False,
            upsample_mode="nearest",
        ),
        DIPUNet(8, 3, depth=3, width=8),
        DIPUNet(8, 3, depth=2, width=8, upsample_mode="bilinear"),
        ResNet(8, 3, num_blocks=2, num_channels=8),
        SegNet(8, 3, widths=[8, 16, 16]),
    ],
    ids=["skip", "skip-noskip-avg", "skip-5x5", "unet-deconv", "unet-bilinear", "resnet", "segnet"],
)
@pytest.mark.parametrize("size", [(23, 37), (17, 16)])
def test_generator_shape_for_odd_sizes(net, size):
    torch.manual_seed(0)
    z = torch.rand(1, 8, *size) * 0.1
    out = net.to(memory_format=torch.channels_last)(z.contiguous(memory_format=torch.channels_last))
    assert out.shape == (1, 3, *size)
    assert out.min() > 0 and out.max() < 1  # sigmoid output
    out.mean().backward()  # trainable end to end
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_skip_defaults_match_the_paper():
    net = Skip(32, 3)  # 5 scales, 128/128/4, 3x3/3x3/1x1, reflection, bilinear, stride
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert {m.padding_mode for m in convs if m.kernel_size != (1, 1)} == {"reflect"}
    assert {m.padding_mode for m in convs if m.kernel_size == (1, 1)} == {"zeros"}  # no pad
    assert sum(m.stride == (2, 2) for m in convs) == 5
    assert (
        sum(isinstance(m, torch.nn.LeakyReLU) and m.negative_slope == 0.2 for m in net.modules())
        == 5 * 5
    )  # skip, 2 down, up, 1x1 up per scale
    # the original network (DmitryUlyanov/deep-image-prior, get_net 'skip') has 2,217,831
    # parameters for input_depth 32 and 3 output channels (BatchNorm affine included)
    assert sum(p.numel() for p in net.parameters()) == 2_217_831
    assert net(torch.rand(1, 32, 32, 32)).shape == (1, 3, 32, 32)


GENERATORS = ["skip", "unet", "resnet", "segnet"]


@pytest.mark.parametrize("name", GENERATORS)
def test_generator_configs_instantiate(name):
    cfg = compose_dip([f"model/generator={name}"])
    assert cfg.model.schedules.sr.max_steps == 2000
    net = instantiate(cfg.model.generator)(out_channels=3)  # a _partial_ factory
    assert type(net).__name__.lower().removeprefix("dip") == name  # DIPUNet: not archs.UNet
    assert net(torch.rand(1, 32, 19, 21)).shape == (1, 3, 19, 21)


def test_generators_declare_the_repositorys_learning_rate():
    """unet and resnet set model.lr to the DIP repository's 0.001; skip and segnet keep 0.01, and
    an explicit model.lr wins over the generator's."""
    lrs = {g: compose_dip([f"model/generator={g}"]).model.lr for g in GENERATORS}
    assert lrs == {"skip": 0.01, "unet": 0.001, "resnet": 0.001, "segnet": 0.01}
    cfg = compose_dip(["model/generator=unet", "model.lr=0.005"])
    assert instantiate(cfg.model).lr == 0.005


def test_unet_generator_inpaints_at_its_declared_rate():
    """The U-Net generator at its YAML's rate fills the holes of an inpainting problem. At skip's
    0.01 it diverged to a constant image (here 8.6 dB; 15.19 dB, below the masked input, on the
    study's inpainting crops) until its YAML set the DIP repository's 0.001."""
    overrides = [
        "model/generator=unet",
        "model.early_stopping.enabled=false",
        "model.max_steps=150",
    ]
    method = instantiate(compose_dip(overrides).model)
    clean = camera_crop(32)
    mask = (torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    module = method.module_for(clean * mask, mask=mask, gt=clean)
    assert module.max_steps == 150 and module.lr == 0.001
    _fit(module, 150)
    psnr = module.results()["curves"]["psnr"]
    masked_input = psnr_in(clean * mask, clean, torch.ones_like(mask))
    assert psnr[-5:].mean() > masked_input + 15  # about 31 dB against 11.5 (masked input)


# -- Lanczos downsampler -----------------------------------------------------------------------
def _original_kernel(factor: int, phase: float, width: int, support: int) -> np.ndarray:
    """``get_kernel(..., 'lanczos', ...)`` of the DIP repository, loop for loop."""
    n = width - 1 if phase == 0.5 else width
    kernel = np.zeros([n, n])
    center = (width + 1) / 2.0
    for i in range(1, n + 1):
        for j in range(1, n + 1):
            di = abs(i + phase - center) / factor
            dj = abs(j + phase - center) / factor
            val = 1.0
            for d in (di, dj):
                if d != 0:
                    val *= support * np.sin(np.pi * d) * np.sin(np.pi * d / support)
                    val /= np.pi * np.pi * d * d
            kernel[i - 1][j - 1] = val
    return kernel / kernel.sum()


@pytest.mark.parametrize("factor", [2, 3, 4])
@pytest.mark.parametrize("kernel_type", ["lanczos2", "lanczos3"])
def test_lanczos_downsampler(factor, kernel_type):
    ds = LanczosDownsampler(factor, kernel_type, phase=0.5, preserve_size=True)
    h, w = 9 * factor, 5 * factor
    const = torch.full((2, 3, h, w), 0.37)
    out = ds(const)
    assert out.shape == (2, 3, h // factor, w // factor)
    assert ds.output_size(h, w) == (h // factor, w // factor)
    torch.testing.assert_close(out, torch.full_like(out, 0.37), rtol=0, atol=1e-6)
    # the separable kernel is the original dense 2-D kernel
    support = 2 if kernel_type == "lanczos2" else 3
    k2d = _original_kernel(factor, 0.5, 2 * support * factor + 1, support)
    k1d = ds.kernel.double().numpy()
    np.testing.assert_allclose(np.outer(k1d, k1d), k2d, atol=1e-7)
    # on a ramp (inside the borders) it is the mean over each factor x factor cell's centre
    ramp = torch.arange(w, dtype=torch.float32).expand(1, 1, h, w)
    centres = torch.arange(w // factor, dtype=torch.float32) * factor + (factor - 1) / 2
    inner = slice(2 * support, -2 * support)
    torch.testing.assert_close(ds(ramp)[0, 0, 0, inner], centres[inner], atol=1e-4, rtol=0)


# -- ES-WMV ------------------------------------------------------------------------------------
def _windowed_variance(xs: np.ndarray, window: int) -> np.ndarray:
    out = np.full(len(xs), np.nan)
    for t in range(window - 1, len(xs)):
        win = xs[t - window + 1 : t + 1]
        out[t] = np.mean(np.sum((win - win.mean(0)) ** 2, axis=1)) / xs.shape[1]
    return out


@pytest.mark.parametrize("check_every", [1, 7])
def test_eswmv_detects_the_variance_minimum(check_every):
    window, patience, t0, n = 10, 25, 60, 200
    rng = np.random.default_rng(0)
    base = rng.random(48)
    # outputs settle towards t0 and diverge after it; the W outputs ending at t0 are identical,
    # so VAR has its unique minimum (0) exactly at iteration t0
    amplitude = 0.02 + 0.003 * np.abs(np.arange(n) - t0)
    xs = base + amplitude[:, None] * rng.standard_normal((n, 48))
    xs[t0 - window + 1 : t0 + 1] = base
    es = ESWMV(window=window, patience=patience, check_every=check_every, max_steps=n)
    stopped = None
    for t in range(n):
        x = torch.from_numpy(xs[t]).float().view(1, 3, 4, 4)
        es.update(x, t, {"out": x})
        if es.should_stop(t):
            stopped = t
            break
    assert es.detection()[0] == t0
    assert stopped is not None and t0 + patience <= stopped < t0 + patience + check_every
    assert es.stop_step() == stopped  # the host replay of the history agrees
    assert torch.equal(es.snapshots["out"].flatten(), torch.from_numpy(base).float())
    reference = _windowed_variance(xs[: stopped + 1].astype(np.float32).astype(np.float64), window)
    history = es.history[: stopped + 1].numpy()
    np.testing.assert_allclose(
        history[window - 1 :], reference[window - 1 :], rtol=1e-6, atol=1e-12
    )
    assert np.isnan(history[: window - 1]).all()


def test_eswmv_no_detection_before_the_window_fills():
    es = ESWMV(window=5, patience=1, check_every=1, max_steps=10)
    for t in range(4):
        es.update(torch.rand(1, 1, 2, 2), t)
        assert not es.should_stop(t)
    assert es.detection() == (None, None)


# -- the module --------------------------------------------------------------------------------
def _fit(module: DIPModule, steps: int, precision: str = "32-true") -> None:
    trainer = L.Trainer(
        max_steps=steps,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        precision=precision,
    )
    trainer.fit(module, torch.utils.data.DataLoader(_Steps(steps), batch_size=None))


def test_dip_denoising_error_falls():
    L.seed_everything(0, verbose=False)
    clean = camera_crop(32)
    noisy = (
        clean
        + 25 / 255 * torch.from_numpy(np.random.RandomState(0).standard_normal(clean.shape)).float()
    )
    steps = 40
    module = DIPModule(
        tiny_skip(8, 1),
        noisy,
        gt=clean,
        input_depth=8,
        max_steps=steps,
        early_stopping={"window": 10, "patience": 100},
    )
    _fit(module, steps)
    res = module.results()
    assert res["steps"] == steps and not res["stopped_early"]
    psnr = res["curves"]["psnr"]
    assert np.isfinite(psnr).all()
    # MSE to the clean image: falls by more than 4x (6 dB) from the random init
    assert psnr[-5:].mean() > psnr[:3].mean() + 6.0
    assert res["curves"]["loss"][-5:].mean() < 0.25 * res["curves"]["loss"][:3].mean()
    assert res["es_iteration"] is not None and 9 <= res["es_iteration"] < steps
    assert res["images"]["es"].shape == clean.shape


def test_1x1_convs_without_the_originals_zero_reflection_pad():
    # the original puts ReflectionPad2d(0) before 1x1 convs too; without it: the same numbers
    torch.manual_seed(0)
    net = tiny_skip(8, 3)
    original = copy.deepcopy(net)
    for m in original.modules():
        if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1):
            m.padding_mode = "reflect"
    z = torch.rand(1, 8, 24, 24) * 0.1
    out, ref = net(z), original(z)
    assert torch.equal(out, ref)
    out.square().sum().backward()
    ref.square().sum().backward()
    for p, q in zip(net.parameters(), original.parameters(), strict=True):
        assert torch.equal(p.grad, q.grad)


@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("reg_noise_std", [0.05, 0.0])
def test_perturbed_code_in_a_reused_buffer(reg_noise_std, channels_last):
    L.seed_everything(0, verbose=False)
    module = DIPModule(
        tiny_skip(8, 1),
        camera_crop(16),
        input_depth=8,
        reg_noise_std=reg_noise_std,
        channels_last=channels_last,
    )
    torch.manual_seed(1)
    z = module.perturbed_code()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    assert z.is_contiguous(memory_format=fmt)
    torch.manual_seed(1)  # the draw of the original: N(0, 1) in the code's own layout
    noise = torch.zeros_like(module.z).normal_()
    torch.testing.assert_close(z, module.z + reg_noise_std * noise, rtol=0, atol=1e-7)
    first = z.clone()
    torch.manual_seed(2)
    module.perturbed_code()  # the buffer is reused: a later draw does not leak into it
    torch.manual_seed(1)
    assert torch.equal(module.perturbed_code(), first)


def test_fused_adam_is_an_option_off_by_default():
    # the fused kernel equals Adam's reference loop only up to rounding, which DIP amplifies
    # into another trajectory within tens of steps (a tiny image: 0.3 dB apart by step 20), so
    # the default keeps the reference Adam and its results
    modules = [
        DIPModule(tiny_skip(8, 1), camera_crop(16), input_depth=8, **kw)
        for kw in ({}, {"fused_adam": True})
    ]
    assert [bool(m.configure_optimizers().defaults["fused"]) for m in modules] == [False, True]
    assert compose_dip([]).model.fused_adam is False


def test_eswmv_stops_the_trainer():
    # lr 0 and no code perturbation: every output is the same, so VAR is 0 from the first full
    # window (step 2) and never strictly lower again; the Trainer must stop at step 2 + patience
    L.seed_everything(0, verbose=False)
    module = DIPModule(
        tiny_skip(8, 1),
        camera_crop(16),
        input_depth=8,
        lr=0.0,
        reg_noise_std=0.0,
        max_steps=50,
        early_stopping={"window": 3, "patience": 4, "check_every": 1},
    )
    _fit(module, 50)
    res = module.results()
    assert res["stopped_early"] and res["es_iteration"] == 2
    assert res["steps"] == 2 + 4 + 1 and res["es_stop_step"] == 6
    assert res["es_var"] == pytest.approx(0.0, abs=1e-12)


def test_dip_sr_and_inpaint_data_terms():
    L.seed_everything(0, verbose=False)
    hr = camera_crop(32)
    lr = LanczosDownsampler(4)(hr)
    sr = DIPModule(
        tiny_skip(8, 1),
        lr,
        operator=LanczosDownsampler(4),
        gt=hr,
        scale=4,
        input_depth=8,
        max_steps=30,
        early_stopping={"enabled": False},
    )
    _fit(sr, 30)
    curves = sr.results()["curves"]
    assert curves["loss"][-5:].mean() < 0.2 * curves["loss"][:3].mean()
    assert curves["psnr"][-5:].mean() > curves["psnr"][:3].mean() + 5
    # inpainting ignores the hidden pixels: corrupting them does not change the data term
    mask = (torch.rand(1, 1, 32, 32) > 0.3).float()
    module = DIPModule(tiny_skip(8, 1), hr, mask=mask, input_depth=8)
    out = torch.rand(1, 1, 32, 32)
    corrupted = DIPModule(tiny_skip(8, 1), hr + (1 - mask) * 5.0, mask=mask, input_depth=8)
    torch.testing.assert_close(module.data_term(out), corrupted.data_term(out))
    with pytest.raises(ValueError, match="observation's times"):
        DIPModule(
            tiny_skip(8, 1), lr, LanczosDownsampler(4), scale=4, out_size=(30, 32), input_depth=8
        )


# -- problems and the CLI ----------------------------------------------------------------------
def _write_png(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


def test_build_problem_follows_the_noise_protocol(tmp_path):
    img = data.astronaut()[100:124, 180:212]  # 24 x 32 RGB
    path = _write_png(tmp_path / "a.png", img)
    p = build_problem(path, GaussianNoise(sigma=25))
    clean = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    noise = np.random.RandomState(0).standard_normal(img.shape).transpose(2, 0, 1)[None]
    torch.testing.assert_close(p.gt, clean)
    torch.testing.assert_close(p.observation, clean + torch.from_numpy(25 / 255 * noise).float())
    assert p.kind == "denoise" and p.data_fit == "l2"
    # the crop comes first, then the seeded noise: the same input restore.eval's test_crop makes
    cropped = build_problem(path, GaussianNoise(sigma=25), crop=16)
    torch.testing.assert_close(cropped.gt, clean[..., 4:20, 8:24])
    noise16 = np.random.RandomState(0).standard_normal((16, 16, 3)).transpose(2, 0, 1)[None]
    expected = clean[..., 4:20, 8:24] + torch.from_numpy(25 / 255 * noise16).float()
    torch.testing.assert_close(cropped.observation, expected)
    sr = build_problem(path, BicubicDownsample(4), crop=[20, 30])
    assert sr.gt.shape == (1, 3, 20, 28) and sr.observation.shape == (1, 3, 5, 7)
    assert sr.kind == "sr" and sr.scale == 4
    # the operator is the float bicubic resize: it maps the HR crop near its LR observation
    assert (sr.operator(sr.gt) - sr.observation).abs().max() <= 1 / 255 + 1e-6


def test_cli_denoise_end_to_end(tmp_path):
    img = (camera_crop(24)[0, 0].numpy() * 255).round().astype(np.uint8)
    path = _write_png(tmp_path / "cam.png", img)
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "restore.dip", f"image={path}", "noise.sigma=25",
        "model.max_steps=12", "model.input_depth=4", "model.early_stopping.window=3",
        "model.patience=2", "model.early_stopping.check_every=1",
        "model.generator.num_scales=2", "model.generator.num_channels_down=8",
        "model.generator.num_channels_up=8", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("restored.png", "final.png", "observation.png", "curve.png", "curves.npz"):
        assert (run_dir / name).stat().st_size > 0, name
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["problem"] == "denoise" and summary["size"] == [24, 24]
    assert 2 <= summary["es_iteration"] < summary["steps"] <= 12
    assert summary["seconds_per_iteration"] > 0
    for key in ("psnr", "ssim", "oracle_psnr", "oracle_iteration", "psnr_final"):
        assert np.isfinite(summary[key]), key
    restored = np.asarray(Image.open(run_dir / "restored.png"))
    assert restored.shape == (24, 24) and restored.dtype == np.uint8


def test_dataset_mode_writes_csv_and_means(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i, (top, left) in enumerate([(0, 0), (200, 240)]):
        _write_png(folder / f"im{i}.png", data.astronaut()[top : top + 16, left : left + 16])
    cfg = compose_dip([
        "noise=bicubic", "noise.scale=2", "model/generator=resnet", f"dataset={folder}",
        "model.max_steps=6", "model.input_depth=4", "model.generator.num_blocks=1",
        "model.generator.num_channels=4", "model.early_stopping.window=2", "model.patience=100",
        "model.precision=32-true", "csv_log=false",
    ])  # fmt: skip
    summary = run(cfg, out_dir=tmp_path / "out")
    rows = (tmp_path / "out" / "results.csv").read_text().strip().splitlines()
    assert rows[0].startswith("image,psnr,ssim,psnr_y") and len(rows) == 4
    assert rows[-1].startswith("mean,")
    per_image = [
        json.loads((tmp_path / "out" / f"im{i}" / "summary.json").read_text()) for i in range(2)
    ]
    assert summary["images"] == 2
    assert summary["mean"]["psnr"] == pytest.approx(np.mean([s["psnr"] for s in per_image]))
    assert all(s["size"] == [16, 16] and s["observation_size"] == [8, 8] for s in per_image)


def test_inpaint_through_run(tmp_path):
    img = (camera_crop(16)[0, 0].numpy() * 255).round().astype(np.uint8)
    mask = np.full((16, 16), 255, np.uint8)
    mask[5:9, :] = 0
    cfg = compose_dip([
        "noise=mask_file", f"image={_write_png(tmp_path / 'i.png', img)}",
        f"noise.path={_write_png(tmp_path / 'm.png', mask)}", "model.max_steps=5",
        "model.input_type=meshgrid", "model.input_depth=2", "model/generator=segnet",
        "model.generator.widths=[4,4]", "csv_log=false", "model.early_stopping.window=2",
    ])  # fmt: skip
    summary = run(cfg, out_dir=tmp_path / "out")
    assert summary["problem"] == "inpaint" and summary["steps"] == 5 and "psnr" in summary
    assert np.isfinite(summary["psnr_holes"])
    # the hole PSNR only sees the unknown pixels: exact on the known ones, 0.2 off in the hole
    gt = torch.full((1, 3, 16, 16), 100 / 255)
    hole = torch.from_numpy(mask < 128).float()[None, None]
    expected = 20 * np.log10(5)  # an error of 0.2: 10 log10(1 / 0.04)
    assert psnr_in(gt + 51 / 255 * hole, gt, hole) == pytest.approx(expected, abs=1e-4)
    observed = np.asarray(Image.open(tmp_path / "out" / "observation.png"))
    assert (observed[5:9] == 0).all() and (observed[:5] == img[:5]).all()
