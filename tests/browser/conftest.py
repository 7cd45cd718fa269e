"""Browser fixtures: the built book served over HTTP and opened in headless Chromium.

The book is served from a local port, as GitHub Pages would serve it, and every request to any
other host is aborted: the machine may be offline, and an aborted request both keeps the tests
fast and deterministic and shows which pages depend on something external.

Environment:
    VAELIB_BOOK_DIR        the built HTML book (default ``<repo>/_build/html``).
    VAELIB_SCREENSHOT_DIR  where screenshots and the external-request list go
                           (default ``<repo>/_build/screenshots``).
    VAELIB_CHROMIUM        a Chromium/Chrome executable to use instead of searching for one.
    VAELIB_AXE             an axe.min.js to use instead of the pinned axe-core that the
                           accessibility tests fetch into ``<repo>/_build/axe-core-<version>``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ..apt import apt_install, apt_prefix

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_HOST = "127.0.0.1"
VIEWPORT = {"width": 1280, "height": 900}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
INSTALL_HINT = (
    "install Chromium (Debian/Ubuntu: `sudo apt-get install chromium`), or run "
    "`.venv/bin/python -m playwright install chromium`, or point VAELIB_CHROMIUM at a "
    "Chromium/Chrome executable"
)


def book_dir() -> Path:
    """The built book; an environment variable lets the tests run against a copy."""
    return Path(os.environ.get("VAELIB_BOOK_DIR") or REPO_ROOT / "_build" / "html").resolve()


def screenshot_dir() -> Path:
    """Where screenshots go; created on demand so a fresh checkout works."""
    path = Path(os.environ.get("VAELIB_SCREENSHOT_DIR") or REPO_ROOT / "_build" / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


# The reports that every page load adds to (axe-core's violations, the external requests). The
# pages are shared out among pytest-xdist workers, so each worker merges its pages into one file
# under a lock; the run that starts the session (xdist's controller, or a run without xdist)
# clears them first, so a report never holds a page of an earlier run.
SHARED_REPORTS = ("axe-report.json", "external-requests.json")


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):
        for name in SHARED_REPORTS:
            (screenshot_dir() / name).unlink(missing_ok=True)


def merge_into_report(name: str, key: str, value: object) -> dict:
    """Set ``key`` in the JSON object ``name`` of the screenshot folder, beside what other workers
    wrote; returns the whole object."""
    import fcntl
    import json

    folder = screenshot_dir()
    with open(folder / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = folder / name
        merged = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        merged[key] = value
        staging = path.with_suffix(f".{os.getpid()}.tmp")
        staging.write_text(json.dumps(merged, indent=1), encoding="utf-8")
        staging.replace(path)
    return merged


# --------------------------------------------------------------------------------------------
# Finding a browser
# --------------------------------------------------------------------------------------------


def _runs(executable: str) -> bool:
    """Whether `executable --version` works: Ubuntu's chromium-browser can be a snap stub."""
    try:
        done = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and "chrom" in (done.stdout + done.stderr).lower()


def _chromium_on_path() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found and _runs(found):
            return found
    return None


def _tail(done: subprocess.CompletedProcess) -> str:
    text = (done.stderr or done.stdout or b"").decode(errors="replace").strip()
    return text.splitlines()[-1] if text else f"exit status {done.returncode}"


def _playwright_install_chromium() -> tuple[bool, str]:
    done = subprocess.run(
        [sys.executable, "-m", "playwright", "install", "chromium"],
        capture_output=True,
        timeout=900,
        check=False,
    )
    return done.returncode == 0, _tail(done)


def find_chromium() -> tuple[str | None, list[str]]:
    """Return (executable, log): a Chromium to launch, or None for Playwright's own build.

    Order: $VAELIB_CHROMIUM; chromium / chromium-browser / google-chrome on PATH; apt-get install
    chromium when root or passwordless sudo on Debian/Ubuntu; `playwright install chromium`.
    Fails the run (never skips) when none of these gives a browser.
    """
    log: list[str] = []
    explicit = os.environ.get("VAELIB_CHROMIUM")
    if explicit:
        if _runs(explicit):
            return explicit, log
        pytest.fail(
            f"VAELIB_CHROMIUM={explicit!r} does not run (`--version` failed); {INSTALL_HINT}"
        )
    found = _chromium_on_path()
    if found:
        return found, log
    log.append(f"none of {', '.join(CHROMIUM_NAMES)} runs from PATH")
    prefix = apt_prefix()
    if prefix is not None:
        log.append("trying `apt-get install -y chromium`" + (" with sudo" if prefix else ""))
        try:
            said = apt_install("chromium", installed=lambda: _chromium_on_path() is not None,
                              prefix=prefix)
        except (OSError, subprocess.SubprocessError) as err:
            said = str(err)
        found = _chromium_on_path()
        if found:
            return found, log
        log.append(f"apt-get did not give a working chromium ({said})")
    else:
        log.append("not root and no passwordless sudo on Debian/Ubuntu: apt-get not tried")
    log.append("trying `python -m playwright install chromium`")
    try:
        ok, said = _playwright_install_chromium()
    except (OSError, subprocess.SubprocessError) as err:
        ok, said = False, str(err)
    if ok:
        return None, log
    log.append(f"playwright install chromium failed ({said})")
    pytest.fail(
        "No Chromium for the browser tests: " + "; ".join(log) + f". To fix: {INSTALL_HINT}"
    )


# --------------------------------------------------------------------------------------------
# axe-core, the accessibility checker
# --------------------------------------------------------------------------------------------

# Pinned: a new axe-core release adds rules, and a test that fails on a release day is no help.
# The integrity is the npm registry's (`npm view axe-core@4.10.3 dist.integrity`).
AXE_VERSION = "4.10.3"
AXE_INTEGRITY = (
    "sha512-Xm7bpRXnDSX2YE2YFfBk2FnF0ep6tmG7xPh8iHee8MIcrgq762Nkce856dYtJYLkuIoYZvGfTs/PbZhideTcEg=="
)
AXE_TARBALL = f"https://registry.npmjs.org/axe-core/-/axe-core-{AXE_VERSION}.tgz"


def _axe_from_tarball(data: bytes) -> str:
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")
    if digest != AXE_INTEGRITY:
        raise ValueError(f"the tarball's checksum is {digest}, not the pinned {AXE_INTEGRITY}")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = tar.extractfile("package/axe.min.js")
        if member is None:
            raise ValueError("the tarball has no package/axe.min.js")
        return member.read().decode("utf-8")


def _fetch_axe_tarball() -> bytes:
    """The pinned tarball: `npm pack` where npm is installed (it honours .npmrc), else HTTPS."""
    npm = shutil.which("npm")
    if npm:
        with tempfile.TemporaryDirectory() as folder:
            done = subprocess.run(
                [npm, "pack", "--silent", f"axe-core@{AXE_VERSION}"],
                cwd=folder, capture_output=True, timeout=300, check=False,
            )
            packed = list(Path(folder).glob("axe-core-*.tgz"))
            if done.returncode == 0 and packed:
                return packed[0].read_bytes()
    with urllib.request.urlopen(AXE_TARBALL, timeout=120) as answer:  # noqa: S310 - a fixed https URL
        return answer.read()


def axe_script() -> str:
    """The text of axe.min.js: $VAELIB_AXE, else the pinned axe-core, fetched once into _build/.

    Fails the run (never skips) with what to do when it cannot be had.
    """
    explicit = os.environ.get("VAELIB_AXE")
    if explicit:
        if not Path(explicit).is_file():
            pytest.fail(f"VAELIB_AXE={explicit!r} is not a file (point it at axe-core's axe.min.js)")
        return Path(explicit).read_text(encoding="utf-8")
    cached = REPO_ROOT / "_build" / f"axe-core-{AXE_VERSION}" / "axe.min.js"
    if cached.is_file():
        return cached.read_text(encoding="utf-8")
    try:
        text = _axe_from_tarball(_fetch_axe_tarball())
    except (OSError, ValueError, subprocess.SubprocessError, tarfile.TarError) as err:
        pytest.fail(
            f"Could not get axe-core {AXE_VERSION} for the accessibility tests ({err}). Either let "
            f"this machine reach the npm registry (`npm pack axe-core@{AXE_VERSION}` or "
            f"{AXE_TARBALL}), or unpack that package and set VAELIB_AXE=/path/to/axe.min.js"
        )
    cached.parent.mkdir(parents=True, exist_ok=True)
    # Two test workers may fetch it at once: each writes its own file and renames it into place,
    # so the other never reads half a script.
    partial = cached.with_name(f"{cached.name}.{os.getpid()}.part")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, cached)
    return text


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's axe.min.js (pinned), to inject into pages with `page.add_script_tag`."""
    return axe_script()


# --------------------------------------------------------------------------------------------
# Browser and server
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """One headless Chromium for the whole session: launching is the slow part."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: `.venv/bin/pip install playwright`")
    executable, log = find_chromium()
    manager = sync_playwright().start()
    try:
        options = {"headless": True, "args": CHROMIUM_ARGS}
        if executable:
            options["executable_path"] = executable
        try:
            launched = manager.chromium.launch(**options)
        except PlaywrightError as err:
            where = executable or "Playwright's own chromium"
            pytest.fail(
                f"Chromium ({where}) did not start: {err}\n{'; '.join(log)}\n{INSTALL_HINT}"
            )
        yield launched
        launched.close()
    finally:
        manager.stop()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        """Requests are not worth a line each in the test output."""


@pytest.fixture(scope="session")
def book_server() -> Iterator[str]:
    """Base URL (ending in '/') of a local HTTP server for the book, as on GitHub Pages."""
    root = book_dir()
    if not (root / "index.html").is_file():
        pytest.fail(
            f"No built book at {root} (index.html missing): build the book first: make book"
        )
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer((LOCAL_HOST, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="book-server", daemon=True)
    thread.start()
    try:
        yield f"http://{LOCAL_HOST}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------------------------
# Opening pages
# --------------------------------------------------------------------------------------------


def is_external(url: str) -> bool:
    """Whether a URL leaves the local server (data:, blob: and about: never do)."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https", "ws", "wss") and parts.hostname != LOCAL_HOST


IMAGES_SCRIPT = """
async () => {
  // Lazy images load only near the viewport: make every one eager, then wait for each to finish.
  const images = Array.from(document.images);
  images.forEach((img) => { img.loading = "eager"; });
  window.scrollTo(0, document.body.scrollHeight);
  await Promise.all(images.map((img) => img.complete ? null : new Promise((done) => {
    img.addEventListener("load", done, { once: true });
    img.addEventListener("error", done, { once: true });
    setTimeout(done, 10000);
  })));
  window.scrollTo(0, 0);
  return images.map((img) => ({
    src: img.getAttribute("src") || "",
    complete: img.complete,
    naturalWidth: img.naturalWidth,
  }));
}
"""


@dataclass
class OpenedPage:
    """A page of the book with what it tried to fetch and what it complained about."""

    page: object
    path: str = ""
    response_status: int | None = None
    external_urls: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    external_console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def load_images(self) -> list[dict]:
        """Force every <img> (lazy ones too) to load; return src, complete and naturalWidth."""
        return self.page.evaluate(IMAGES_SCRIPT)

    def screenshot(self, name: str) -> Path:
        """Full-page PNG `<name>.png` in the screenshot directory, after images have loaded.

        The window is made as tall as the page for the shot, then set back: Playwright's
        `full_page` capture painted a chapter in the dark theme in 9-15 s against 5 s in the light
        one, while a window as tall as the page paints either in 5 s."""
        self.load_images()
        target = screenshot_dir() / f"{name}.png"
        window = self.page.viewport_size
        try:
            for _ in range(3):  # a taller window can make the page taller (boxes sized in vh)
                height = self.page.evaluate("document.documentElement.scrollHeight")
                if height <= self.page.viewport_size["height"]:
                    break
                self.page.set_viewport_size({"width": window["width"], "height": height})
            # A whole chapter is some 30,000 pixels tall: painting it takes 5 s on an idle core, and
            # several times that beside a second browser worker, so it gets more than the default.
            self.page.screenshot(path=str(target), timeout=120_000)
        finally:
            self.page.set_viewport_size(window)
        return target

    def _on_console(self, message) -> None:
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        text = f"{message.text} (at {where})" if where else message.text
        # A request we aborted shows up as "Failed to load resource: net::ERR_FAILED" located at
        # the external URL; that is our doing, not the page's.
        caused_by_abort = (where and is_external(where)) or any(
            url in message.text for url in self.external_urls
        )
        (self.external_console_errors if caused_by_abort else self.console_errors).append(text)

    def _on_page_error(self, error) -> None:
        self.page_errors.append(f"{error.name}: {error.message}" if error.name else str(error))


def _abort_external(opened: OpenedPage, route) -> None:
    url = route.request.url
    if is_external(url):
        if url not in opened.external_urls:
            opened.external_urls.append(url)
        route.abort()
    else:
        route.continue_()


DARK_MODE_SCRIPT = """
try { localStorage.setItem("mode", "dark"); localStorage.setItem("theme", "dark"); } catch (e) {}
"""


def new_page(browser, base_url: str, path: str, dark: bool = False, wait_until: str = "load",
             viewport: dict | None = None, reduced_motion: bool = False):
    """Open `path` of the book in a fresh context; return (OpenedPage, context to close).

    A fresh context per page (1280x900 unless `viewport` says otherwise) keeps localStorage (the
    theme) from leaking between pages. `reduced_motion`: the reader's system asks for less motion.
    """
    context = browser.new_context(
        viewport=viewport or VIEWPORT, color_scheme="dark" if dark else "light", service_workers="block",
        reduced_motion="reduce" if reduced_motion else "no-preference",
    )
    context.set_default_timeout(20_000)
    # Loading a chapter (some 30,000 px of figures and formulas) takes 3-5 s on an idle core; beside
    # the other browser worker's axe-core run it took over 20 s once, so navigation gets longer.
    context.set_default_navigation_timeout(90_000)
    if dark:
        context.add_init_script(DARK_MODE_SCRIPT)
    page = context.new_page()
    opened = OpenedPage(page=page, path=path)
    context.route("**/*", functools.partial(_abort_external, opened))
    page.on("console", opened._on_console)
    page.on("pageerror", opened._on_page_error)
    response = page.goto(base_url + path.lstrip("/"), wait_until=wait_until)
    opened.response_status = response.status if response else None
    return opened, context


@pytest.fixture
def open_page(browser, book_server) -> Iterator[Callable[..., OpenedPage]]:
    """`open_page(path, dark=False)`: load a page of the book, e.g. "chapters/04_vae.html".

    The returned OpenedPage has `.page` (Playwright), `.external_urls` (blocked requests),
    `.console_errors` (those not caused by the blocked requests) and `.page_errors` (uncaught
    exceptions). Its context is closed when the test ends.
    """
    contexts = []

    def _open(path: str, dark: bool = False, wait_until: str = "load") -> OpenedPage:
        opened, context = new_page(browser, book_server, path, dark=dark, wait_until=wait_until)
        contexts.append(context)
        return opened

    yield _open
    for context in contexts:
        context.close()


# The shared page loads (visits.py) are fixtures for every test module of this folder. Imported last:
# visits.py uses the helpers defined above.
from .visits import axe_report, external_log, visits  # noqa: E402, F401
