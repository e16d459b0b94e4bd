"""restore-download against a server on 127.0.0.1: catalog entries fetched into a data dir,
interrupted transfers resumed with Range, corrupted files refused; the catalog checked against
../shared; the released-weights reproduction run on weights fetched by the download path."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from restore.data import download as dl
from restore.data.download import load_catalog, main, mirrored
from restore.eval import evaluate
from restore.utils.config import PROJECT_ROOT

from .conftest import compose_config

# where the tiny fixtures claim to come from: fetched from the local server through --mirror
BASE = "https://raw.githubusercontent.com/someone/sets/0123456789abcdef/Set12/"


class FileServer:
    """Serves ``files`` (url path -> bytes) with ``Range: bytes=N-`` support; records each
    request's (path, Range). ``cut[path] = n``: the next answer for ``path`` announces the full
    length but drops the connection after ``n`` body bytes (once)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.cut: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                rng = self.headers.get("Range")
                outer.requests.append((self.path, rng))
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                m = re.fullmatch(r"bytes=(\d+)-", rng or "")
                start = int(m.group(1)) if m else 0
                if start >= len(body) and m:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if m:
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                data = body[start:]
                if self.path in outer.cut:
                    data = data[: outer.cut.pop(self.path)]
                    self.close_connection = True
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def serve(self, url: str, body: bytes) -> str:
        """Serve ``body`` where ``--mirror self.url`` fetches ``url`` from; that url path."""
        path = mirrored(url, self.url)[len(self.url) :]
        self.files[path] = body
        return path

    def ranges(self, path: str) -> list[str | None]:
        return [r for p, r in self.requests if p == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FileServer()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def no_retry_wait(monkeypatch):
    monkeypatch.setattr(dl, "RETRY_WAIT_S", 0.0)


def png(seed: int, size: int = 24) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def tiny_set12(server, tmp_path) -> tuple[Path, dict[str, bytes]]:
    """A user catalog that overrides ``set12`` with three small PNGs, served by ``server``."""
    files = {f"{i:02d}.png": png(i) for i in (1, 2, 3)}
    for name, data in files.items():
        server.serve(BASE + name, data)
    catalog = tmp_path / "tiny.yaml"
    entry = {
        "kind": "dataset",
        "dir": "Set12",
        "licence": "test fixture",
        "base_url": BASE,
        "files": {name: {"sha256": sha(data), "size": len(data)} for name, data in files.items()},
    }
    catalog.write_text(yaml.safe_dump({"set12": entry}))
    return catalog, files


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main([*argv, "--quiet"])
    out, err = capsys.readouterr()
    return rc, out, err


def test_set_downloads_into_the_data_dir_and_is_verified(server, tiny_set12, tmp_path, capsys):
    catalog, files = tiny_set12
    data = tmp_path / "D"
    rc, out, err = run(
        capsys, "set12", "--data-dir", str(data), "--catalog", str(catalog), "--mirror", server.url
    )
    assert rc == 0, err
    assert out.strip() == str(data / "Set12")
    assert {p.name: p.read_bytes() for p in (data / "Set12").iterdir()} == files  # no .part left
    # again: every file verified in place, nothing fetched
    n = len(server.requests)
    assert run(capsys, "set12", "--data-dir", str(data), "--catalog", str(catalog))[0] == 0
    assert len(server.requests) == n
    # --only: the files whose name contains one of the strings
    other = tmp_path / "E"
    args = ["set12", "--data-dir", str(other), "--catalog", str(catalog), "--mirror", server.url]
    assert run(capsys, *args, "--only", "02", "03")[0] == 0
    assert sorted(p.name for p in (other / "Set12").iterdir()) == ["02.png", "03.png"]
    rc, _, err = run(capsys, *args, "--only", "nothing")
    assert rc == 1 and "matches none" in err


def test_mirror_from_the_environment_and_default_dirs(server, tiny_set12, tmp_path, monkeypatch):
    catalog, files = tiny_set12
    monkeypatch.setenv("RESTORE_DOWNLOAD_MIRROR", server.url)
    monkeypatch.setenv("RESTORE_DATA_DIR", str(tmp_path / "env"))
    assert main(["SET12", "--catalog", str(catalog), "--quiet"]) == 0  # names: any case
    assert (tmp_path / "env" / "Set12" / "02.png").read_bytes() == files["02.png"]
    assert mirrored("https://h.org/a/b.png?x=1", "http://m/") == "http://m/h.org/a/b.png?x=1"
    assert dl.default_weights_dir(tmp_path) == tmp_path / "weights"  # --data-dir D: D/weights
    monkeypatch.setenv("RESTORE_WEIGHTS_DIR", str(tmp_path / "w"))
    assert dl.default_weights_dir() == tmp_path / "w"


def test_interrupted_download_resumes_with_range(server, tiny_set12, tmp_path, capsys):
    catalog, files = tiny_set12
    data = tmp_path / "D"
    args = ["set12", "--data-dir", str(data), "--catalog", str(catalog), "--mirror", server.url]
    path = server.serve(BASE + "02.png", files["02.png"])
    server.cut[path] = 100  # the connection drops after 100 bytes of 02.png
    rc, _, err = run(capsys, *args, "--retries", "0")
    assert rc == 1 and "run again to resume" in err and "02.png" in err
    assert (data / "Set12" / "01.png").is_file() and not (data / "Set12" / "02.png").exists()
    assert (data / "Set12" / "02.png.part").stat().st_size == 100
    rc, _, err = run(capsys, *args)  # run again: resumed from byte 100
    assert rc == 0, err
    assert server.ranges(path) == [None, "bytes=100-"]
    assert (data / "Set12" / "02.png").read_bytes() == files["02.png"]
    assert not list((data / "Set12").glob("*.part"))


def test_interrupted_transfer_is_retried_in_the_same_run(server, tiny_set12, tmp_path, capsys):
    catalog, files = tiny_set12
    path = server.serve(BASE + "03.png", files["03.png"])
    server.cut[path] = 50
    rc, _, err = run(
        capsys, "set12", "--data-dir", str(tmp_path), "--catalog", str(catalog), "--mirror",
        server.url,
    )  # fmt: skip
    assert rc == 0, err
    assert server.ranges(path) == [None, "bytes=50-"]
    assert (tmp_path / "Set12" / "03.png").read_bytes() == files["03.png"]


def test_corrupted_file_is_refused_and_not_left_in_place(server, tiny_set12, tmp_path, capsys):
    catalog, files = tiny_set12
    folder = tmp_path / "Set12"
    args = ["set12", "--data-dir", str(tmp_path), "--catalog", str(catalog), "--mirror", server.url]
    bad = bytearray(files["02.png"])
    bad[40] ^= 0xFF
    path = server.serve(BASE + "02.png", bytes(bad))
    rc, _, err = run(capsys, *args)
    assert rc == 1
    assert len(err.strip().splitlines()) == 1, err  # one line naming the file and what is wrong
    assert "02.png" in err and "sha256" in err and "refused" in err
    assert not (folder / "02.png").exists() and not (folder / "02.png.part").exists()
    assert (folder / "01.png").read_bytes() == files["01.png"]
    # a partial file that resumes into garbage is refused and deleted too
    server.files[path] = files["02.png"]
    (folder / "02.png.part").write_bytes(b"not a png at all")
    rc, _, err = run(capsys, *args)
    assert rc == 1 and "refused" in err and not list(folder.glob("02.png*"))
    rc, _, err = run(capsys, *args)  # the next run downloads it afresh
    assert rc == 0, err
    assert (folder / "02.png").read_bytes() == files["02.png"]


def test_a_users_own_set_and_weights_need_no_code(server, tmp_path, capsys):
    weights, image = b"\x00weights" * 1000, png(7)
    server.files["/mine/net.pth"] = weights
    server.files["/mine/set/sub/a.png"] = image
    catalog = tmp_path / "my.yaml"
    catalog.write_text(
        f"""
my_net:
  kind: weights
  licence: CC0, mine
  citation: Me, 2026.
  files:
    my_net.pth: {{url: "{server.url}/mine/net.pth", sha256: {sha(weights)}}}
my_set:
  dir: MySet
  licence: mine too
  base_url: {server.url}/mine/set
  files:
    sub/a.png: {sha(image)}
"""
    )
    data = tmp_path / "D"
    rc, out, err = run(
        capsys, "my_set", "my_net", "--data-dir", str(data), "--catalog", str(catalog)
    )
    assert rc == 0, err
    assert (data / "MySet" / "sub" / "a.png").read_bytes() == image
    assert (data / "weights" / "my_net.pth").read_bytes() == weights
    assert out.split() == [str(data / "MySet"), str(data / "weights")]
    rc, out, _ = run(capsys, "--list", "--catalog", str(catalog), "--data-dir", str(data))
    assert rc == 0 and "CC0, mine" in out and "Me, 2026." in out and "set12" in out
    assert f"-> {data / 'weights'}" in out
    # --root: the folder of one entry itself
    assert run(capsys, "my_set", "--root", str(tmp_path / "R"), "--catalog", str(catalog))[0] == 0
    assert (tmp_path / "R" / "sub" / "a.png").is_file()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"x": {"files": {"a.png": {"url": "http://h/a.png"}}}}, "needs its sha256"),
        ({"x": {"base_url": "http://h/", "files": {"../a.png": "0" * 64}}}, "relative path"),
        ({"x": {"files": {"a.png": "0" * 64}}}, "full url"),
        ({"x": {"kind": "model", "files": {"a": "0" * 64}}}, "kind"),
        ({"x": {"base_url": "http://h/", "files": {"a.png": "xyz"}}}, "hex digest"),
        ({"x": {"dir": "A"}}, "either files or archives"),
    ],
)
def test_malformed_user_catalog_is_one_line_naming_the_key(spec, message, tmp_path, capsys):
    catalog = tmp_path / "bad.yaml"
    catalog.write_text(yaml.safe_dump(spec))
    rc, _, err = run(capsys, "x", "--catalog", str(catalog), "--data-dir", str(tmp_path))
    assert rc == 2 and message in err and str(catalog) in err and len(err.splitlines()) == 1


def test_unknown_names_and_usage_errors(capsys, tmp_path):
    rc, _, err = run(capsys, "set13", "--data-dir", str(tmp_path))
    assert rc == 2 and "set13" in err and "set12" in err
    assert run(capsys, "set12", "bsd68", "--root", str(tmp_path))[0] == 2
    assert run(capsys, "--data-dir", str(tmp_path))[0] == 2
    assert list(tmp_path.iterdir()) == []


def test_module_entry_point_lists_entries_with_licences(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "restore.data.download", "list", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
    )
    assert result.returncode == 0, result.stderr
    for name in ("train400", "set12", "bsd68", "cbsd68", "set5", "set14", "deepimageprior"):
        assert f"\n{name}  (dataset" in f"\n{result.stdout}"
    assert "gopro_sample" in result.stdout and "div2k" in result.stdout
    assert "dncnn_s25  (weights, 1 files" in result.stdout and "MIT License" in result.stdout


def test_builtin_catalog_entries_are_complete():
    catalog = load_catalog()
    for entry in catalog.values():
        assert entry.licence and entry.citation and entry.source, entry.name
        assert entry.files or entry.archives
        for f in entry.files:
            assert f.sha256 and f.size and f.url.startswith("https://raw.githubusercontent.com/")
    assert catalog["dncnn_s25"].kind == "weights"
    assert [f.path for f in catalog["dncnn_s25"].files] == ["kair_dncnn_25.pth"]
    assert dl.DATASETS["div2k"] == list(catalog["div2k"].archives)


def _readme_sources(readme: Path) -> dict[str, tuple[str, str, str]]:
    """folder -> (repository, path, short commit) from a ../shared README's source column."""
    sources = {}
    for line in readme.read_text().splitlines():
        m = re.match(r"\| (\S+) \|.*\| ([\w.-]+/[\w.-]+) `([^`]+)` @([0-9a-f]{7}) \|$", line)
        if m:
            sources[m.group(1)] = (m.group(2), m.group(3).rstrip("/"), m.group(4))
    return sources


@pytest.mark.shared
def test_catalog_matches_shared_sums_and_sources(shared_datasets, shared_weights):
    """The built-in catalog cannot rot: every file of ../shared/datasets/SHA256SUMS, with its hash
    and size, at the repository, path and commit the README names; the weights' hash too."""
    sums = {}
    for line in (shared_datasets / "SHA256SUMS").read_text().splitlines():
        digest, path = line.split()
        sums[path.removeprefix("./")] = digest
    sources = _readme_sources(shared_datasets / "README.md")
    assert len(sources) == 8
    catalog = load_catalog()
    listed = {}
    for entry in catalog.values():
        if entry.kind != "dataset" or not entry.files:
            continue
        repo, path, commit = sources[entry.dir]
        for f in entry.files:
            rel = f"{entry.dir}/{f.path}"
            listed[rel] = f.sha256
            assert f.size == (shared_datasets / rel).stat().st_size, rel
            m = re.fullmatch(
                rf"https://raw\.githubusercontent\.com/{repo}/([0-9a-f]+)/{path}/(.+)", f.url
            )
            assert m and m.group(1).startswith(commit) and m.group(2) == f.path, f.url
    assert listed == sums
    weights = catalog["dncnn_s25"].files[0]
    blob = (shared_weights / "kair_dncnn_25.pth").read_bytes()
    assert weights.sha256 == sha(blob) and weights.size == len(blob)
    m = re.search(
        r"(cszn/KAIR) `([^`]+)` @([0-9a-f]{7})", (shared_weights / "README.md").read_text()
    )
    assert m and weights.url.startswith(
        f"https://raw.githubusercontent.com/{m.group(1)}/{m.group(3)}"
    )
    assert weights.url.endswith(f"/{m.group(2)}")


@pytest.mark.shared
def test_real_set12_entry_interrupted_resumed_and_corrupted(
    server, shared_datasets, tmp_path, capsys
):
    """`restore-download set12 --data-dir D` with the catalog's own entry, served from 127.0.0.1."""
    entry = load_catalog()["set12"]
    paths = {
        f.path: server.serve(f.url, (shared_datasets / "Set12" / f.path).read_bytes())
        for f in entry.files
    }
    server.cut[paths["05.png"]] = 5000
    data = tmp_path / "D"
    args = ["set12", "--data-dir", str(data), "--mirror", server.url]
    rc, _, err = run(capsys, *args, "--retries", "0")
    assert rc == 1 and "05.png" in err
    assert (data / "Set12" / "05.png.part").stat().st_size == 5000
    rc, _, err = run(capsys, *args)
    assert rc == 0, err
    assert server.ranges(paths["05.png"]) == [None, "bytes=5000-"]
    for f in entry.files:
        assert (data / "Set12" / f.path).read_bytes() == (
            shared_datasets / "Set12" / f.path
        ).read_bytes()
    assert sorted(p.name for p in (data / "Set12").iterdir()) == sorted(paths)
    # a corrupted copy on the server is refused and not left in place
    server.files[paths["09.png"]] = b"corrupted" + server.files[paths["09.png"]][9:]
    fresh = tmp_path / "E"
    rc, _, err = run(capsys, "set12", "--data-dir", str(fresh), "--mirror", server.url)
    assert rc == 1 and "09.png" in err and "sha256" in err
    assert not list((fresh / "Set12").glob("09.png*"))


@pytest.mark.slow
@pytest.mark.shared
def test_released_weights_reproduction_with_downloaded_weights(
    server, shared_datasets, shared_weights, tmp_path, capsys
):
    """The released-weights evaluation (tests/test_released_weights.py) on two Set12 images, with
    the weights fetched by `restore-download dncnn_s25` from 127.0.0.1, read through
    paths.weights_dir; the same PSNR as with the ../shared copy."""
    weights = load_catalog()["dncnn_s25"].files[0]
    path = server.serve(weights.url, (shared_weights / "kair_dncnn_25.pth").read_bytes())
    data = tmp_path / "D"
    assert run(capsys, "dncnn_s25", "--data-dir", str(data), "--mirror", server.url)[0] == 0
    assert server.ranges(path) == [None]
    fetched = data / "weights" / "kair_dncnn_25.pth"
    assert fetched.read_bytes() == (shared_weights / "kair_dncnn_25.pth").read_bytes()
    few = tmp_path / "few"
    few.mkdir()
    for name in ("01.png", "05.png"):
        (few / name).symlink_to(shared_datasets / "Set12" / name)
    common = ["experiment=dncnn_kair_s25", "callbacks=none", f"data.test_sets.Set12='{few}'"]
    common.append("~data.test_sets.BSD68")
    psnr = {}
    for label, extra in (("fetched", [f"paths.weights_dir='{data / 'weights'}'"]), ("shared", [])):
        cfg = compose_config("eval", common + extra, tmp_path / label)
        assert Path(cfg.model.weights) == (
            fetched if label == "fetched" else shared_weights / "kair_dncnn_25.pth"
        )
        psnr[label] = evaluate(cfg)["test/Set12/psnr"]
    assert psnr["fetched"] == psnr["shared"]
    assert 28.0 < psnr["fetched"] < 34.0
