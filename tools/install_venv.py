"""Install the course's packages into the virtual environment that runs this script.

    .venv/bin/python tools/install_venv.py [--torch-index URL] [--pip] REQUIREMENT...

The Makefile runs this once, for a new `.venv`. Most of the work is unpacking some 5 GB of wheels
(torch and its CUDA libraries): pip does that one file after another, about 80 s on two cores,
while uv (Astral's installer, itself a wheel on PyPI) unpacks on every core in about 20 s and picks
the same versions from the same sources. So uv is installed into the venv first and does the
install; the sources pip is configured with on this machine (its config files and ``PIP_*``
variables: index, extra indexes, find-links, constraints) are passed to uv, which reads no pip
configuration of its own, and ``--index-strategy unsafe-best-match`` makes it choose among those
indexes as pip does (the highest version wherever it lies).

If uv cannot be had (no network for PyPI), if pip is configured with an option this script does
not translate, or if uv's install fails, the same install runs with pip, as it always did; `--pip`
asks for pip alone.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys

# pip options that say where packages come from, and uv's spelling of each (a list option repeats).
SOURCES = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links",
           "constraint": "--constraint"}
# pip options that change nothing about what gets installed, or that uv takes from elsewhere (the
# certificate: uv reads SSL_CERT_FILE).
HARMLESS = {"cert", "default-timeout", "timeout", "disable-pip-version-check", "no-cache-dir", "quiet",
            "progress-bar", "no-input", "root-user-action", "no-warn-script-location", "retries"}
# Where a pip setting comes from, weakest first: a later one replaces an earlier one.
SCOPES = ("global", "user", "site", ":env:")


def pip_settings(listing: str) -> dict[str, str]:
    """pip's effective settings from ``pip config list``: ``{option: value}``, each option taken
    from its strongest scope (the environment over site over user over global config files)."""
    found: dict[str, tuple[int, str]] = {}
    for line in listing.splitlines():
        name, sep, value = line.partition("=")
        scope, dot, option = name.rpartition(".")
        if not (sep and dot):
            continue
        rank = SCOPES.index(scope) if scope in SCOPES else 0  # [install] and the like: as global
        value = value.strip().strip("'\"")
        if option not in found or rank >= found[option][0]:
            found[option] = (rank, value)
    return {option: value for option, (_, value) in found.items()}


def uv_source_args(settings: dict[str, str]) -> list[str] | None:
    """uv's options for pip's sources, or None where pip is set up in a way this does not translate."""
    args: list[str] = []
    for option, value in settings.items():
        if option in SOURCES:
            for item in value.split():
                args += [SOURCES[option], item]
        elif option not in HARMLESS:
            print(f"install_venv: pip's option {option!r} has no translation for uv; installing with pip")
            return None
    return args


def run(command: list[str]) -> bool:
    print("+", shlex.join(command), flush=True)
    return subprocess.run(command).returncode == 0


def with_uv(requirements: list[str], torch_index: str | None) -> bool:
    python = sys.executable
    listing = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True)
    sources = uv_source_args(pip_settings(listing.stdout)) if listing.returncode == 0 else None
    if sources is None:
        return False
    # a short wait: without a network this gives up in seconds and pip does the install
    if not run([python, "-m", "pip", "install", "--quiet", "--timeout", "15", "--retries", "1", "uv"]):
        print("install_venv: uv could not be installed; installing with pip")
        return False
    uv = [python, "-m", "uv", "pip", "install", "--quiet", "--python", python, "--index-strategy", "unsafe-best-match",
          *sources]
    if torch_index and not run([*uv, "torch", "torchvision", "--index-url", torch_index]):
        return False
    return run([*uv, *requirements])


def with_pip(requirements: list[str], torch_index: str | None) -> bool:
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile"]
    ok = run([sys.executable, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    if ok and torch_index:
        ok = run([*pip, "torch", "torchvision", "--index-url", torch_index])
    return ok and run([*pip, *requirements])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("requirements", nargs="+", help="what pip install would be given")
    parser.add_argument("--torch-index", default=None, help="the index torch and torchvision come from")
    parser.add_argument("--pip", action="store_true", help="install with pip only")
    args = parser.parse_args(argv)
    if sys.prefix == sys.base_prefix:
        raise SystemExit("install_venv: run this with a virtual environment's Python, not the system's")
    if not args.pip and with_uv(args.requirements, args.torch_index):
        return 0
    if not args.pip:
        print("install_venv: installing with pip instead (slower: about a minute more)", flush=True)
    return 0 if with_pip(args.requirements, args.torch_index) else 1


if __name__ == "__main__":
    sys.exit(main())
