"""Resumable, verified downloads of the datasets' official archives.

``download(url, dest)`` writes into ``dest.part``, resuming an interrupted download with an HTTP
``Range`` request, verifies the checksum and only then renames the file to ``dest`` (so a file
under its final name is always complete and verified). ``fetch(name, root)`` downloads and
unpacks a whole dataset::

    python -m restore.data.download div2k --root data/DIV2K
    python -m restore.data.download stl10 --root data/stl10
    python -m restore.data.download cifar100 --root data/cifar100

Checksums: STL-10 and CIFAR-100 have md5 sums published by their authors (the ones torchvision
checks); DIV2K's site publishes none: the SHA-256 sums of train/valid HR and the X2 LR archives
below are those recorded by TensorFlow Datasets (``tensorflow_datasets/url_checksums/div2k.txt``),
and the X3/X4 LR archives have no known checksum (their size is still checked when the server
sends it, and the download is marked unverified in the log).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import logging
import os
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from restore.utils.errors import DataError

log = logging.getLogger(__name__)

USER_AGENT = "restore-dataset-downloader/1.0"


@dataclass(frozen=True)
class Resource:
    """One archive of a dataset; ``creates`` is the path (relative to root) it unpacks to."""

    url: str
    creates: str
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_DIV2K = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"
DATASETS: dict[str, list[Resource]] = {
    "div2k": [
        Resource(
            _DIV2K + "DIV2K_train_HR.zip",
            "DIV2K_train_HR",
            sha256="9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335",
            size=3530603713,
        ),
        Resource(
            _DIV2K + "DIV2K_valid_HR.zip",
            "DIV2K_valid_HR",
            sha256="20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc",
            size=448993893,
        ),
        Resource(
            _DIV2K + "DIV2K_train_LR_bicubic_X2.zip",
            "DIV2K_train_LR_bicubic/X2",
            sha256="a53a424317575838dadce4bcd97cf7b744d6855f43740ed5f0245af3cf4bd850",
            size=925390592,
        ),
        Resource(
            _DIV2K + "DIV2K_valid_LR_bicubic_X2.zip",
            "DIV2K_valid_LR_bicubic/X2",
            sha256="60eed9875c697df51204aa579e2a699e1d5215095788a097ff54dd17e2664d57",
            size=117763600,
        ),
        # no published or recorded checksum for the X3/X4 archives: size check only
        Resource(_DIV2K + "DIV2K_train_LR_bicubic_X3.zip", "DIV2K_train_LR_bicubic/X3"),
        Resource(_DIV2K + "DIV2K_valid_LR_bicubic_X3.zip", "DIV2K_valid_LR_bicubic/X3"),
        Resource(_DIV2K + "DIV2K_train_LR_bicubic_X4.zip", "DIV2K_train_LR_bicubic/X4"),
        Resource(_DIV2K + "DIV2K_valid_LR_bicubic_X4.zip", "DIV2K_valid_LR_bicubic/X4"),
    ],
    "stl10": [
        Resource(
            "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",
            "stl10_binary",
            md5="91f7769df0f17e558f3565bffb0c7dfb",
        )
    ],
    "cifar100": [
        Resource(
            "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
            "cifar-100-python",
            md5="eb9058c3a382ffc7106e4002c42a8d85",
        )
    ],
}


def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, sha256: str | None = None, md5: str | None = None) -> str | None:
    """None when ``path`` matches the given checksums, else a description of the mismatch."""
    for algorithm, expected in (("sha256", sha256), ("md5", md5)):
        if expected:
            actual = file_digest(path, algorithm)
            if actual.lower() != expected.lower():
                return f"{algorithm} {actual}, expected {expected}"
    return None


def _total_size(response, offset: int) -> int | None:
    """Full size of the remote file from Content-Range ("bytes a-b/total") or Content-Length."""
    content_range = response.headers.get("Content-Range")
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1].strip()
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def download(
    url: str,
    dest: str | Path,
    sha256: str | None = None,
    md5: str | None = None,
    size: int | None = None,
    timeout: float = 60.0,
    chunk_size: int = 1 << 20,
) -> Path:
    """Download ``url`` to ``dest``, resuming ``dest.part`` if present; verify, then rename.

    A file already at ``dest`` is verified and kept. A checksum mismatch deletes the partial file
    (it can never pass for complete) and raises DataError; an interrupted transfer keeps
    ``dest.part`` so that the next call resumes it.
    """
    dest = Path(dest)
    if dest.is_file():
        mismatch = verify(dest, sha256, md5)
        if mismatch:
            raise DataError(f"{dest} exists but its {mismatch}: delete it and download again")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    written = offset
    try:
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as err:
            if err.code != 416 or not offset:  # 416: nothing left after offset
                raise
            response = None
        if response is not None:
            with response:
                if offset and response.status == 200:  # the server ignored the Range header
                    log.info("%s does not support resuming: downloading from the start", url)
                    offset = written = 0
                total = _total_size(response, offset)
                log.info("downloading %s -> %s (from byte %d)", url, dest, offset)
                with open(part, "ab" if offset else "wb") as f:
                    while chunk := response.read(chunk_size):
                        f.write(chunk)
                        written += len(chunk)
                if total is not None and written < total:
                    raise DataError(
                        f"download of {url} stopped at {written} of {total} bytes: run again "
                        f"to resume from {part}"
                    )
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        raise DataError(
            f"download of {url} failed after {written} bytes ({err}): run again to resume "
            f"from {part}"
        ) from None
    actual_size = part.stat().st_size
    mismatch = verify(part, sha256, md5)
    if mismatch is None and size is not None and actual_size != size:
        mismatch = f"size {actual_size} bytes, expected {size}"
    if mismatch:
        part.unlink(missing_ok=True)
        raise DataError(
            f"{dest.name} downloaded from {url} has {mismatch}; the partial file was deleted, "
            "run again to download it afresh"
        )
    if not (sha256 or md5):
        log.warning("%s: no checksum is known, the download is not verified", dest.name)
    os.replace(part, dest)
    return dest


def extract(archive: Path, root: Path) -> None:
    """Unpack a .zip or .tar(.gz) archive into ``root`` (member paths may not leave ``root``)."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            z.extractall(root)  # zipfile strips absolute paths and ".." components
    elif tarfile.is_tarfile(archive):
        try:
            with tarfile.open(archive) as t:
                t.extractall(root, filter="data")  # refuses absolute paths, "..", device files
        except tarfile.TarError as err:
            raise DataError(f"cannot unpack {archive}: {err}") from None
    else:
        raise DataError(f"{archive} is neither a zip nor a tar archive")


def fetch(
    name: str, root: str | Path, keep_archives: bool = False, only: list[str] | None = None
) -> list[Path]:
    """Download and unpack dataset ``name`` (a key of DATASETS) into ``root``.

    Archives whose content already exists (``Resource.creates``) are skipped. ``only`` keeps the
    resources whose file name contains one of its strings (e.g. ``["HR", "X4"]``).
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}: choose one of {sorted(DATASETS)}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    created = []
    for res in DATASETS[name]:
        if only and not any(s in res.filename for s in only):
            continue
        target = root / res.creates
        if target.exists():
            log.info("%s already present: skipping %s", target, res.filename)
            created.append(target)
            continue
        archive = download(res.url, root / res.filename, res.sha256, res.md5, res.size)
        extract(archive, root)
        if not target.exists():
            raise DataError(f"{archive} did not unpack to {target}: is the archive the right one?")
        if not keep_archives:
            archive.unlink()
        created.append(target)
    return created


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m restore.data.download",
        description="Download and unpack a dataset's official archives (resumable, verified).",
    )
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument(
        "--root", required=True, help="folder to unpack into (the data.layout.root)"
    )
    parser.add_argument(
        "--only",
        nargs="*",
        help="download only archives whose name contains one of these (e.g. HR X4)",
    )
    parser.add_argument("--keep-archives", action="store_true", help="keep the .zip/.tar.gz")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        for path in fetch(args.dataset, args.root, args.keep_archives, args.only):
            print(path)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
