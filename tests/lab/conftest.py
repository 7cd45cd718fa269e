"""JupyterLab fixtures: a real JupyterLab server on the learner's setup, opened in headless Chromium.

The server runs from this environment (`make lab-test` installs the `lab` extra) on a learner's
clone: the repository is cloned into a temporary "upstream" (with the working tree's chapters and
tools/lab.py committed on top, so uncommitted edits are tested too), the learner clones that, and
JupyterLab serves the learner's `my-chapters/` as `make lab` does, with fresh user settings,
workspaces and trust database, the widget-state override and the save hook of `tools/lab.py`.
Every request that leaves the machine is aborted, as in the book's tests.

Environment:
    VAELIB_LAB_SCREENSHOT_DIR  where screenshots go (default ``<repo>/_build/lab-screenshots``).
    VAELIB_LAB_CHAPTERS        chapters to run whole in JupyterLab (default ``07_cvae``; comma-separated,
                               e.g. ``04_vae,07_cvae``, or ``all``).
    VAELIB_CHROMIUM            a Chromium/Chrome executable, as for tests/browser.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
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


GIT_IDENTITY = {"GIT_AUTHOR_NAME": "course tests", "GIT_AUTHOR_EMAIL": "tests@example.invalid",
                "GIT_COMMITTER_NAME": "course tests", "GIT_COMMITTER_EMAIL": "tests@example.invalid"}


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                          env={**os.environ, **GIT_IDENTITY})
    if done.returncode:
        raise AssertionError(f"git {' '.join(args)} failed in {folder}:\n{done.stdout}{done.stderr}")
    return done.stdout


def learner_clone(base: Path) -> tuple[Path, Path]:
    """(upstream, learner): a clone standing for the course's repository, and a learner's clone of it."""
    upstream, learner = base / "upstream", base / "learner"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(upstream)], check=True)
    for relative in ("chapters", "tools/lab.py", "book/references.bib"):  # the working tree's versions
        source = REPO_ROOT / relative
        if source.is_dir():
            shutil.copytree(source, upstream / relative, dirs_exist_ok=True)
        else:
            shutil.copy(source, upstream / relative)
    git(upstream, "add", "-A", "chapters", "tools/lab.py", "book/references.bib")
    if git(upstream, "status", "--porcelain"):
        git(upstream, "commit", "--quiet", "-m", "the working tree under test")
    subprocess.run(["git", "clone", "--quiet", str(upstream), str(learner)], check=True)
    return upstream, learner


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path
    upstream: Path
    learner: Path

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
    upstream, learner = learner_clone(base)
    root = learner / "my-chapters"
    lab.make_copies(learner / "chapters", root)
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
        lab.jupyterlab_command(root, "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                               f"--IdentityProvider.token={token}",
                               "--LabApp.expose_app_in_browser=True",  # the tests drive JupyterLab's commands
                               *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])),
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    started = Lab(url=url, token=token, root=root, log=log, upstream=upstream, learner=learner)
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
