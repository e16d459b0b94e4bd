"""Write ``conf/download/catalog.yaml``: every downloadable set and weights file, with hashes.

The per-file lists of the benchmark sets come from ``../shared/datasets/SHA256SUMS`` (the files as
published in their public repositories, byte for byte) and the files' sizes; the released DnCNN-S
weights' hash from ``../shared/weights/kair_dncnn_25.pth``. Sources, licences and citations are
below (``SETS``, ``WEIGHTS``, ``ARCHIVES``). Run it again after changing them, and commit the YAML::

    python benchmarks/make_download_catalog.py [--shared ../shared] [--out catalog.yaml]

``restore.data.download`` reads the YAML, not this script: a user adds their own entries in a YAML
file of the same format (``--catalog my.yaml``), with no code.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# repository -> the commit the files are pinned at (full SHA where known; the short SHA of
# ../shared/datasets/README.md otherwise: GitHub resolves both)
COMMITS = {
    "cszn/DnCNN": "e93b27812d3ff523a3a79d19e5e50d233d7a8d0a",
    "cszn/FFDNet": "e787f46",
    "jbhuang0604/SelfExSR": "8f6dd8c1d20cb7e8792a7177b4f6fd677633f598",
    "DmitryUlyanov/deep-image-prior": "042e0d4",
    "SeungjunNah/DeepDeblur_release": "2d5a698560e658718f0520e48dfb15bd52c80118",
    "cszn/KAIR": "fc1732f4a4514e42ce15e5b3a1e18c828af47a1e",
}

_NO_LICENCE = (
    "The source repository states no licence; the images are published there for research "
    "benchmarking. Use them for research and cite the works below."
)
_DNCNN = (
    "K. Zhang, W. Zuo, Y. Chen, D. Meng, L. Zhang. Beyond a Gaussian Denoiser: Residual Learning "
    "of Deep CNN for Image Denoising. IEEE TIP 26(7), 2017."
)
_BSDS = (
    "D. Martin, C. Fowlkes, D. Tal, J. Malik. A Database of Human Segmented Natural Images and "
    "its Application to Evaluating Segmentation Algorithms. ICCV 2001 (BSD68: S. Roth, M. J. "
    "Black. Fields of Experts. IJCV 82, 2009)."
)
_SELFEXSR = (
    "J.-B. Huang, A. Singh, N. Ahuja. Single Image Super-Resolution from Transformed "
    "Self-Exemplars. CVPR 2015."
)

# name -> (folder under the data dir, repository, path in it, description, licence, citation)
SETS: dict[str, tuple[str, str, str, str, str, str]] = {
    "train400": (
        "Train400",
        "cszn/DnCNN",
        "TrainingCodes/DnCNN_TrainingCodes_v1.0/data/Train400",
        "DnCNN's training set: 400 gray 180x180 images",
        _NO_LICENCE + " The images are crops of Berkeley Segmentation Dataset images, which "
        "Berkeley distributes for non-commercial research and educational use.",
        _DNCNN + " " + _BSDS,
    ),
    "set12": (
        "Set12",
        "cszn/DnCNN",
        "testsets/Set12",
        "gray denoising test set: 12 images (7 at 256x256, 5 at 512x512)",
        _NO_LICENCE + " The images are classic test images of various origins.",
        _DNCNN,
    ),
    "bsd68": (
        "BSD68",
        "cszn/DnCNN",
        "testsets/BSD68",
        "gray denoising test set: 68 images, 481x321 / 321x481",
        _NO_LICENCE + " Berkeley Segmentation Dataset images: non-commercial research and "
        "educational use.",
        _DNCNN + " " + _BSDS,
    ),
    "cbsd68": (
        "CBSD68",
        "cszn/FFDNet",
        "testsets/CBSD68",
        "color denoising test set: the 68 BSD68 scenes in color",
        _NO_LICENCE + " Berkeley Segmentation Dataset images: non-commercial research and "
        "educational use.",
        "K. Zhang, W. Zuo, L. Zhang. FFDNet: Toward a Fast and Flexible Solution for CNN-Based "
        "Image Denoising. IEEE TIP 27(9), 2018. " + _BSDS,
    ),
    "set5": (
        "Set5",
        "jbhuang0604/SelfExSR",
        "data/Set5",
        "super-resolution test set: 5 images, HR and MATLAB-bicubic LR at x2, x3, x4",
        _NO_LICENCE,
        "M. Bevilacqua, A. Roumy, C. Guillemot, M.-L. Alberi Morel. Low-Complexity "
        "Single-Image Super-Resolution based on Nonnegative Neighbor Embedding. BMVC 2012. "
        + _SELFEXSR,
    ),
    "set14": (
        "Set14",
        "jbhuang0604/SelfExSR",
        "data/Set14",
        "super-resolution test set: 14 images, HR and MATLAB-bicubic LR at x2, x3, x4",
        _NO_LICENCE,
        "R. Zeyde, M. Elad, M. Protter. On Single Image Scale-Up Using Sparse-Representations. "
        "Curves and Surfaces 2010. " + _SELFEXSR,
    ),
    "deepimageprior": (
        "DeepImagePrior",
        "DmitryUlyanov/deep-image-prior",
        "data",
        "the Deep Image Prior paper's images (denoising, sr, inpainting with masks, restoration, "
        "feature inversion, flash/no-flash)",
        "Apache License 2.0 (the repository's LICENSE; its author asks to be contacted for "
        "commercial use). Some images are third-party photographs published with the paper.",
        "D. Ulyanov, A. Vedaldi, V. Lempitsky. Deep Image Prior. CVPR 2018.",
    ),
    "gopro_sample": (
        "GoPro_sample/pairs",
        "SeungjunNah/DeepDeblur_release",
        "images",
        "two aligned blur/sharp 1280x720 pairs published with the GoPro deblurring dataset",
        "The GoPro dataset's authors publish it under CC BY 4.0; the repository states no "
        "licence for these example images.",
        "S. Nah, T. H. Kim, K. M. Lee. Deep Multi-scale Convolutional Neural Network for Dynamic "
        "Scene Deblurring. CVPR 2017.",
    ),
}

# name -> (file name under the weights dir, repository, path in it, description, licence, citation)
WEIGHTS: dict[str, tuple[str, str, str, str, str, str]] = {
    "dncnn_s25": (
        "kair_dncnn_25.pth",
        "cszn/KAIR",
        "model_zoo/dncnn_25.pth",
        "the authors' released DnCNN-S weights, gray, sigma=25 (batch norm folded in; "
        "model=dncnn model.batch_norm=false): Set12 30.44 dB, BSD68 29.23 dB published",
        "MIT License (cszn/KAIR's LICENSE, Copyright (c) 2019 Kai Zhang).",
        _DNCNN,
    ),
}

_DIV2K_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"


def _div2k(name: str, creates: str, sha256: str | None = None, size: int | None = None) -> dict:
    archive = {"url": _DIV2K_URL + name, "creates": creates}
    if sha256:
        archive["sha256"] = sha256
    if size:
        archive["size"] = size
    return archive


# the official archives, unpacked in place (checksums: see restore/data/download.py)
ARCHIVES: dict[str, dict] = {
    "div2k": {
        "kind": "dataset",
        "dir": "DIV2K",
        "description": "DIV2K: 800 train + 100 valid 2K images, HR and bicubic LR x2/x3/x4 "
        "(~7.5 GB; --only HR X4 to choose archives)",
        "source": _DIV2K_URL,
        "licence": "For academic research purposes only (the dataset's site).",
        "citation": "E. Agustsson, R. Timofte. NTIRE 2017 Challenge on Single Image "
        "Super-Resolution: Dataset and Study. CVPR Workshops 2017.",
        "archives": [
            _div2k(
                "DIV2K_train_HR.zip",
                "DIV2K_train_HR",
                "9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335",
                3530603713,
            ),
            _div2k(
                "DIV2K_valid_HR.zip",
                "DIV2K_valid_HR",
                "20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc",
                448993893,
            ),
            _div2k(
                "DIV2K_train_LR_bicubic_X2.zip",
                "DIV2K_train_LR_bicubic/X2",
                "a53a424317575838dadce4bcd97cf7b744d6855f43740ed5f0245af3cf4bd850",
                925390592,
            ),
            _div2k(
                "DIV2K_valid_LR_bicubic_X2.zip",
                "DIV2K_valid_LR_bicubic/X2",
                "60eed9875c697df51204aa579e2a699e1d5215095788a097ff54dd17e2664d57",
                117763600,
            ),
            # no published or recorded checksum for the X3/X4 archives: size check only
            _div2k("DIV2K_train_LR_bicubic_X3.zip", "DIV2K_train_LR_bicubic/X3"),
            _div2k("DIV2K_valid_LR_bicubic_X3.zip", "DIV2K_valid_LR_bicubic/X3"),
            _div2k("DIV2K_train_LR_bicubic_X4.zip", "DIV2K_train_LR_bicubic/X4"),
            _div2k("DIV2K_valid_LR_bicubic_X4.zip", "DIV2K_valid_LR_bicubic/X4"),
        ],
    },
    "stl10": {
        "kind": "dataset",
        "dir": "stl10",
        "description": "STL-10 binary archive (~2.6 GB)",
        "source": "http://ai.stanford.edu/~acoates/stl10/",
        "licence": "No licence stated by the dataset's site; images from ImageNet (research use).",
        "citation": "A. Coates, H. Lee, A. Y. Ng. An Analysis of Single-Layer Networks in "
        "Unsupervised Feature Learning. AISTATS 2011.",
        "archives": [
            {
                "url": "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",
                "creates": "stl10_binary",
                "md5": "91f7769df0f17e558f3565bffb0c7dfb",
            }
        ],
    },
    "cifar100": {
        "kind": "dataset",
        "dir": "cifar100",
        "description": "CIFAR-100 python archive (~160 MB)",
        "source": "https://www.cs.toronto.edu/~kriz/cifar.html",
        "licence": "No licence stated by the dataset's site (research use).",
        "citation": "A. Krizhevsky. Learning Multiple Layers of Features from Tiny Images. "
        "Technical report, University of Toronto, 2009.",
        "archives": [
            {
                "url": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                "creates": "cifar-100-python",
                "md5": "eb9058c3a382ffc7106e4002c42a8d85",
            }
        ],
    },
}

HEADER = """\
# What `python -m restore.data.download NAME...` (restore-download) can fetch: per-file sources
# pinned at a commit with their SHA-256 and size, or official archives unpacked in place.
# GENERATED by benchmarks/make_download_catalog.py from ../shared/datasets/SHA256SUMS: edit the
# script and run it again rather than editing this file.
#
# An entry (a user's own catalog, passed with --catalog my.yaml, has the same format and may
# override an entry here by name):
#   NAME:
#     kind: dataset | weights     # written under the data dir, or under the weights dir
#     dir: Folder                 # sub-folder of that dir ("" for the dir itself)
#     description / source / licence / citation: text shown by `--list`
#     base_url: https://...       # optional: file urls are relative to it
#     files:                      # relative path -> sha256, or {url, sha256, size}
#       a.png: {sha256: ..., size: 1234}
#       b.png: {url: https://elsewhere/b.png, sha256: ...}
#     archives:                   # or: archives unpacked into the folder
#       - {url: ..., creates: sub/folder, sha256: ..., size: ...}
"""


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_sums(datasets: Path) -> dict[str, str]:
    """``relative path -> sha256`` of ``datasets/SHA256SUMS`` (``sha256sum`` format)."""
    sums = {}
    for line in (datasets / "SHA256SUMS").read_text().splitlines():
        if line.strip():
            digest, path = line.split(maxsplit=1)
            sums[path.lstrip("*").removeprefix("./")] = digest
    return sums


def _files_block(files: dict[str, dict]) -> str:
    lines = ["  files:"]
    for rel, spec in files.items():
        fields = ", ".join(f"{k}: {json.dumps(v)}" for k, v in spec.items())
        lines.append(f"    {json.dumps(rel)}: {{{fields}}}")
    return "\n".join(lines) + "\n"


def _entry(name: str, meta: dict, files: dict[str, dict] | None) -> str:
    text = yaml.safe_dump({name: meta}, sort_keys=False, width=100, allow_unicode=True)
    return text + (_files_block(files) if files else "")


def build(shared: Path) -> str:
    """The catalog's YAML text from ``shared`` (the ``../shared`` folder)."""
    datasets = shared / "datasets"
    sums = read_sums(datasets)
    parts = [HEADER]
    covered = set()
    for name, (folder, repo, path, description, licence, citation) in SETS.items():
        commit = COMMITS[repo]
        files = {}
        for rel in sorted(p for p in sums if p.startswith(folder + "/")):
            inner = rel[len(folder) + 1 :]
            files[inner] = {"sha256": sums[rel], "size": (datasets / rel).stat().st_size}
            covered.add(rel)
        if not files:
            raise SystemExit(f"no file of {folder} in {datasets / 'SHA256SUMS'}")
        meta = {
            "kind": "dataset",
            "dir": folder,
            "description": description,
            "source": f"https://github.com/{repo} {path} @{commit[:7]}",
            "licence": licence,
            "citation": citation,
            "base_url": f"https://raw.githubusercontent.com/{repo}/{commit}/{path}/",
        }
        parts.append(_entry(name, meta, files))
    missed = sorted(set(sums) - covered)
    if missed:
        raise SystemExit(f"files of SHA256SUMS in no entry: {missed[:5]}...")
    for name, (filename, repo, path, description, licence, citation) in WEIGHTS.items():
        weights = shared / "weights" / filename
        commit = COMMITS[repo]
        meta = {
            "kind": "weights",
            "dir": "",
            "description": description,
            "source": f"https://github.com/{repo} {path} @{commit[:7]}",
            "licence": licence,
            "citation": citation,
        }
        url = f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"
        files = {
            filename: {"url": url, "sha256": sha256_of(weights), "size": weights.stat().st_size}
        }
        parts.append(_entry(name, meta, files))
    for name, entry in ARCHIVES.items():
        parts.append(yaml.safe_dump({name: entry}, sort_keys=False, width=100))
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=PROJECT_ROOT.parent / "shared")
    parser.add_argument(
        "--out", type=Path, default=PROJECT_ROOT / "conf" / "download" / "catalog.yaml"
    )
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(build(args.shared))
    print(args.out)


if __name__ == "__main__":
    main()
