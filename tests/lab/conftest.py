"""JupyterLab fixtures: a real JupyterLab server on the learner's setup, opened in headless Chromium.

The server runs from this environment (`make lab-test` installs the `lab` extra), on a copy of the
chapters in a temporary folder, with fresh user settings, workspaces and trust database, and the
widget-state override that `tools/lab.py` writes for learners. Every request that leaves the
machine is aborted, as in the book's tests.

Environment:
    VAELIB_LAB_SCREENSHOT_DIR  where screenshots go (default ``<repo>/_build/lab-screenshots``).
    VAELIB_LAB_CHAPTERS        chapters to run whole in JupyterLab (default ``07_cvae``; comma-separated,
                               e.g. ``04_vae,07_cvae``).
    VAELIB_CHROMIUM            a Chromium/Chrome executable, as for tests/browser.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser.conftest import CHROMIUM_ARGS, browser, is_external  # noqa: F401 (fixture)
from tools import lab

REPO_ROOT = Path(__file__).resolve().parents[2]
VIEWPORT = {"width": 1280, "height": 900}


def screenshot_dir() -> Path:
    path = Path(os.environ.get("VAELIB_LAB_SCREENSHOT_DIR") or REPO_ROOT / "_build" / "lab-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path

    def api(self, path: str, method: str = "GET", body: dict | None = None):
        request = urllib.request.Request(
            f"{self.url}api/{path}", method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text else None

    def notebook(self, name: str) -> dict:
        return json.loads((self.root / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def jupyterlab(tmp_path_factory) -> Iterator[Lab]:
    """A JupyterLab server on copies of the chapters, as `make lab` starts it."""
    try:
        import jupyterlab  # noqa: F401
        import jupyterlab_myst  # noqa: F401
    except ImportError as err:
        pytest.fail(f"{err.name} is missing: `make lab-test` installs the lab extra (pip install -e '.[lab]')")
    base = tmp_path_factory.mktemp("lab")
    root = base / "my-chapters"
    lab.make_copies(REPO_ROOT / "chapters", root)
    shutil.copy(Path(__file__).with_name("explorers.ipynb"), root / "explorers.ipynb")
    if not lab.save_widget_state():
        pytest.fail(f"cannot write {lab.settings_overrides_path()}")
    # Fresh user settings: every cell rendered (no windowing, so the tests can see every cell) and
    # no news or update checks, which would reach outside the machine.
    for plugin, values in {"notebook-extension/tracker": {"windowingMode": "none"},
                           "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}}.items():
        path = base / "settings" / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ,
               JUPYTERLAB_SETTINGS_DIR=str(base / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
               JUPYTER_CONFIG_DIR=str(base / "config"), JUPYTER_RUNTIME_DIR=str(base / "runtime"),
               JUPYTER_DATA_DIR=str(base / "data"),  # a fresh trust database
               VAELIB_DEVICE="cpu", VAELIB_OFFLINE="1", PYTHONHASHSEED="0")
    for name in ("VAELIB_STRICT_CHECKS", "TQDM_DISABLE"):  # a learner's JupyterLab sets neither
        env.pop(name, None)
    log = base / "jupyterlab.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.expose_app_in_browser=True",  # the tests drive JupyterLab's commands
         *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    started = Lab(url=url, token=token, root=root, log=log)
    deadline = time.monotonic() + 120
    while True:
        try:
            started.api("status")
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
    try:
        yield started
    finally:
        for kernel in started.api("kernels") or []:
            started.api(f"kernels/{kernel['id']}", method="DELETE")
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture
def lab_page(browser, jupyterlab):  # noqa: F811 (the imported fixture)
    """A fresh browser context logged in to the JupyterLab server; external requests aborted."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(60_000)
    blocked: list[str] = []

    def route(r):
        if is_external(r.request.url):
            blocked.append(r.request.url)
            r.abort()
        else:
            r.continue_()

    context.route("**/*", route)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"{e}\n{(e.stack or '')[:600]}"))
    page.goto(f"{jupyterlab.url}lab?token={jupyterlab.token}")
    page.wait_for_selector("#jp-main-dock-panel", state="attached", timeout=120_000)
    page.errors = errors
    page.blocked = blocked
    yield page
    context.close()
