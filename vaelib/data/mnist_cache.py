"""Full MNIST in a cache folder: downloaded once, published in one step, safe to share.

The cache is ``root/MNIST/raw/`` holding the four idx files, the layout torchvision's ``MNIST``
reads. Populating it is built to survive faults:

- a download goes into a staging folder ``root/.download-<host>-<pid>-<random>`` and becomes the
  cache by one rename, after every file has passed its MD5 check: no reader ever sees a
  half-written cache, and a complete cache is never replaced or deleted;
- processes that populate the same cache at once take turns through a lock file
  (``root/.mnist.lock``): the first downloads, the others wait for it and then read its cache;
- every request carries its own time-out and all of it ends by a deadline, so a dead mirror
  cannot hang a notebook; no process-wide socket setting is touched;
- a staging folder is removed when its download ends, however it ends, even after the caller
  stopped waiting for it; those of processes killed mid-download are removed by the next
  download into the same folder.

The mirrors and the files' MD5 sums are torchvision's (``MNIST.mirrors``, ``MNIST.resources``).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import re
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from filelock import FileLock, Timeout

from .._files import OWNER_PATTERN, abandoned, owner_tag

__all__ = ["RAW_FILES", "cache_complete", "populate"]

RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_CHUNK = 1 << 16  # bytes per read: the deadline and a cancellation are checked between reads
_LEFTOVER = re.compile(rf"\A\.(download|discard)-{OWNER_PATTERN}-[^-]+\Z")  # staging, old cache


class _Cancelled(Exception):
    """The caller stopped waiting: drop the download."""


def cache_complete(root: Path) -> bool:
    """Whether ``root`` holds a published cache (all four files)."""
    raw = root / "MNIST" / "raw"
    return all((raw / name).is_file() for name in RAW_FILES)


def populate(root: Path, timeout: float) -> tuple[bool, str]:
    """Make sure ``root`` holds full MNIST, downloading it if needed, within ``timeout`` seconds.

    The work runs in a helper thread so that even a name lookup that hangs cannot hold the
    caller past the deadline; a download still running then is told to stop and cleans up after
    itself.

    Args:
        root: the cache folder (it must exist and be writable).
        timeout: seconds, in all, for waiting on another process's download and for the download.

    Returns:
        ``(True, "")`` when the cache is complete, else ``(False, reason)``.
    """
    deadline = time.monotonic() + timeout
    cancel = threading.Event()
    outcome: dict[str, str] = {}
    worker = threading.Thread(target=_populate, args=(root, deadline, cancel, outcome),
                              name="vaelib-mnist-download", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        cancel.set()
        return False, f"no answer within {timeout:g} s"
    if "error" in outcome:
        if time.monotonic() >= deadline:
            # the worker's own clocks (the lock's wait, each request's time-out) end at the same
            # deadline as the join and may fire first: the same event, so the same message
            return False, f"no answer within {timeout:g} s ({outcome['error']})"
        return False, outcome["error"]
    return True, ""


def _populate(root: Path, deadline: float, cancel: threading.Event, outcome: dict[str, str]) -> None:
    lock = FileLock(str(root / ".mnist.lock"))
    try:
        lock.acquire(timeout=max(0.0, deadline - time.monotonic()))
    except Timeout:
        outcome["error"] = f"another process was downloading MNIST into {root} and did not finish in time"
        return
    try:
        if cache_complete(root):  # another process published it while this one waited
            return
        _remove_abandoned_staging(root)
        staging = Path(tempfile.mkdtemp(prefix=f".download-{owner_tag()}-", dir=root))
        try:
            raw = staging / "MNIST" / "raw"
            raw.mkdir(parents=True)
            from torchvision.datasets import MNIST  # imported late: torchvision is slow to import

            for name, md5 in MNIST.resources:
                data = _fetch(MNIST.mirrors, name, md5, deadline, cancel)
                (raw / name.removesuffix(".gz")).write_bytes(gzip.decompress(data))
            if cancel.is_set():
                raise _Cancelled
            _publish(staging / "MNIST", root / "MNIST")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except _Cancelled:
        outcome["error"] = "cancelled"
    except Exception as err:  # noqa: BLE001 - any failure means: no cache, say why
        outcome["error"] = f"{type(err).__name__}: {err}".splitlines()[0][:300]
    finally:
        lock.release()


def _fetch(mirrors: list[str], name: str, md5: str, deadline: float, cancel: threading.Event) -> bytes:
    """One file from the first mirror that serves it intact; an error naming every failure."""
    failures = []
    for mirror in mirrors:
        url = f"{mirror}{name}"
        try:
            data = _get(url, deadline, cancel)
        except (OSError, http.client.HTTPException) as err:  # HTTP errors, time-outs, refusals
            why = err if isinstance(err, urllib.error.HTTPError) else getattr(err, "reason", None) or err
            failures.append(f"{url}: {why}")
            continue
        if hashlib.md5(data, usedforsecurity=False).hexdigest() != md5:
            failures.append(f"{url}: MD5 mismatch (a damaged or different file)")
            continue
        return data
    raise RuntimeError(f"could not download {name} ({'; '.join(failures)})")


def _get(url: str, deadline: float, cancel: threading.Event) -> bytes:
    """The body at ``url``; each blocking read waits at most the time left at the request's start."""
    buffer = io.BytesIO()
    with urllib.request.urlopen(url, timeout=_remaining(deadline)) as response:
        while chunk := response.read(_CHUNK):
            buffer.write(chunk)
            if cancel.is_set():
                raise _Cancelled
            _remaining(deadline)  # past the deadline: stop here
    return buffer.getvalue()


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the download's time limit was reached")
    return left


def _publish(staged: Path, target: Path) -> None:
    """Make ``staged`` the cache in one rename; an incomplete leftover at ``target`` goes first.

    Called under the lock, and only when the cache is not complete, so nothing reads ``target``.
    """
    if target.exists():
        discard = Path(tempfile.mkdtemp(prefix=f".discard-{owner_tag()}-", dir=target.parent))
        target.rename(discard / "MNIST")
        shutil.rmtree(discard, ignore_errors=True)
    staged.rename(target)


def _remove_abandoned_staging(root: Path) -> None:
    for folder in [*root.glob(".download-*"), *root.glob(".discard-*")]:
        found = _LEFTOVER.match(folder.name)
        if found is not None and abandoned(found["host"], int(found["pid"]), folder):
            shutil.rmtree(folder, ignore_errors=True)
