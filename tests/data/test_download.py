"""Resumable verified downloads against a local HTTP server with Range support."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from restore.data import download as dl
from restore.data.download import Resource, download, fetch, main
from restore.utils.errors import DataError

PAYLOAD = bytes(range(256)) * 400  # 102400 bytes


class Server:
    """Serves ``files`` (path -> bytes); records each request's Range header.

    ``ignore_range``: answer 200 with the whole file; ``cut_after``: send a full Content-Length
    but close the connection after that many body bytes (an interrupted transfer)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.ignore_range = False
        self.cut_after: int | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                m = re.fullmatch(r"bytes=(\d+)-", rng or "")
                if m and not server.ignore_range:
                    start = int(m.group(1))
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                chunk = body[start:]
                if server.cut_after is not None:
                    chunk = chunk[: server.cut_after]
                    self.close_connection = True
                self.wfile.write(chunk)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    s.files["/data.bin"] = PAYLOAD
    yield s
    s.close()


SHA = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()


def test_full_download_is_verified_and_renamed(server, tmp_path):
    dest = download(f"{server.url}/data.bin", tmp_path / "d" / "data.bin", sha256=SHA, md5=MD5)
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "d" / "data.bin.part").exists()
    assert server.requests == [("/data.bin", None)]
    # already there and verified: no request
    download(f"{server.url}/data.bin", dest, sha256=SHA)
    assert len(server.requests) == 1


def test_resume_from_a_partial_file_uses_range(server, tmp_path):
    dest = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD[:30000])
    download(f"{server.url}/data.bin", dest, sha256=SHA)
    assert server.requests == [("/data.bin", "bytes=30000-")]
    assert dest.read_bytes() == PAYLOAD


def test_interrupted_transfer_keeps_the_part_and_resumes(server, tmp_path):
    dest = tmp_path / "data.bin"
    server.cut_after = 40000
    with pytest.raises(DataError, match="run again to resume"):
        download(f"{server.url}/data.bin", dest, md5=MD5)
    part = tmp_path / "data.bin.part"
    assert not dest.exists() and part.stat().st_size == 40000
    server.cut_after = None
    download(f"{server.url}/data.bin", dest, md5=MD5)
    assert server.requests[-1] == ("/data.bin", "bytes=40000-")
    assert dest.read_bytes() == PAYLOAD and not part.exists()


def test_server_without_range_support_restarts(server, tmp_path):
    (tmp_path / "data.bin.part").write_bytes(b"garbage" * 100)
    server.ignore_range = True
    download(f"{server.url}/data.bin", tmp_path / "data.bin", sha256=SHA)
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD


def test_complete_part_answered_416_is_verified(server, tmp_path):
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD)
    download(f"{server.url}/data.bin", tmp_path / "data.bin", sha256=SHA)
    assert server.requests == [("/data.bin", f"bytes={len(PAYLOAD)}-")]
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD


def test_bad_checksum_leaves_no_file_that_passes_for_complete(server, tmp_path):
    dest = tmp_path / "data.bin"
    with pytest.raises(DataError, match=r"data\.bin") as err:
        download(f"{server.url}/data.bin", dest, sha256="0" * 64)
    assert SHA in str(err.value)  # says what it got
    assert not dest.exists() and not (tmp_path / "data.bin.part").exists()
    with pytest.raises(DataError, match="md5"):
        download(f"{server.url}/data.bin", dest, md5="0" * 32)
    assert list(tmp_path.iterdir()) == []
    # a wrong partial prefix that resumes into a bad file is deleted too
    (tmp_path / "data.bin.part").write_bytes(b"x" * 1000)
    with pytest.raises(DataError):
        download(f"{server.url}/data.bin", dest, sha256=SHA)
    assert list(tmp_path.iterdir()) == []
    # a finished file with a wrong checksum is reported, not silently used
    dest.write_bytes(b"not it")
    with pytest.raises(DataError, match="exists but"):
        download(f"{server.url}/data.bin", dest, sha256=SHA)


def test_missing_url_is_a_data_error(server, tmp_path):
    with pytest.raises(DataError, match="404"):
        download(f"{server.url}/nothing.zip", tmp_path / "nothing.zip")


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_fetch_and_cli_download_and_unpack(server, tmp_path, monkeypatch, capsys):
    archive = _tar_gz({"toy/a.txt": b"hello", "toy/b.txt": b"world"})
    server.files["/toy.tar.gz"] = archive
    res = Resource(
        f"{server.url}/toy.tar.gz", "toy", md5=hashlib.md5(archive).hexdigest(), size=len(archive)
    )
    monkeypatch.setitem(dl.DATASETS, "toy", [res])
    assert fetch("toy", tmp_path / "a") == [tmp_path / "a" / "toy"]
    assert (tmp_path / "a" / "toy" / "b.txt").read_bytes() == b"world"
    assert not (tmp_path / "a" / "toy.tar.gz").exists()  # archive removed after unpacking
    n = len(server.requests)
    fetch("toy", tmp_path / "a")  # already unpacked: nothing downloaded
    assert len(server.requests) == n
    assert main(["toy", "--root", str(tmp_path / "b"), "--keep-archives"]) == 0
    assert (tmp_path / "b" / "toy" / "a.txt").is_file()
    assert (tmp_path / "b" / "toy.tar.gz").is_file()
    assert str(tmp_path / "b" / "toy") in capsys.readouterr().out
    with pytest.raises(DataError, match="unknown dataset"):
        fetch("imagenet", tmp_path)


def test_official_entries_are_complete():
    for name in ("div2k", "stl10", "cifar100"):
        for res in dl.DATASETS[name]:
            assert res.url.startswith(("http://", "https://")) and res.creates
    assert all(r.md5 for r in dl.DATASETS["stl10"] + dl.DATASETS["cifar100"])
    known = {r.filename for r in dl.DATASETS["div2k"] if r.sha256}
    assert "DIV2K_train_HR.zip" in known and "DIV2K_train_LR_bicubic_X4.zip" not in known


def test_unpacking_refuses_paths_outside_root(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(_tar_gz({"../escape.txt": b"x"}))
    with pytest.raises(DataError, match=r"bad\.tar\.gz"):
        dl.extract(bad, tmp_path / "root")
    assert not (tmp_path / "escape.txt").exists()
    not_archive = tmp_path / "x.zip"
    not_archive.write_bytes(b"plain")
    with pytest.raises(DataError, match="neither a zip nor a tar"):
        dl.extract(not_archive, tmp_path / "root")
