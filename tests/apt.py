"""Installing a Debian package a test needs, once, even when several test workers ask at once.

`make test` runs the tests in two pytest-xdist workers; two `apt-get install` at the same time
fail on dpkg's lock, so every install here waits for an exclusive file lock first.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

LOCK = Path(tempfile.gettempdir()) / "vaelib-tests-apt.lock"


def apt_prefix() -> list[str] | None:
    """The command prefix that may run apt-get (root, or passwordless sudo), else None."""
    if not Path("/etc/debian_version").exists() or not shutil.which("apt-get"):
        return None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return []
    sudo = shutil.which("sudo")
    if sudo and subprocess.run([sudo, "-n", "true"], capture_output=True).returncode == 0:
        return [sudo, "-n"]
    return None


def apt_install(package: str, *, installed: Callable[[], bool], prefix: list[str],
                timeout: float = 900) -> str:
    """`apt-get update && apt-get install -y package` under the lock; apt's last words on failure.

    ``installed()`` is asked again once the lock is held: another worker may have installed the
    package while this one waited, and then nothing runs.
    """
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed():
            return ""
        done = None
        for args in (["apt-get", "update"], ["apt-get", "install", "-y", package]):
            done = subprocess.run([*prefix, *args], env=env, capture_output=True,
                                  timeout=timeout, check=False)
    if done.returncode == 0:
        return ""
    text = (done.stderr or done.stdout or b"").decode(errors="replace").strip()
    return text.splitlines()[-1] if text else f"exit status {done.returncode}"
