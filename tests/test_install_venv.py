"""tools/install_venv.py: uv installs from exactly the sources pip is configured with, or pip does it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tools import install_venv

LISTING = """\
global.cert='/etc/ssl/certs/ca-certificates.crt'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'
global.find-links='/srv/old-wheels'
install.index-url='https://mirror.example/simple'
:env:.default-timeout='180'
:env:.find-links='/opt/wheels'
"""


def test_each_option_comes_from_its_strongest_scope():
    settings = install_venv.pip_settings(LISTING)
    assert settings["find-links"] == "/opt/wheels"  # PIP_FIND_LINKS wins over the config file
    assert settings["extra-index-url"] == "file:///opt/pypi/simple file:///opt/pypi-more/simple"
    assert settings["index-url"] == "https://mirror.example/simple"


def test_pips_sources_become_uvs_options():
    args = install_venv.uv_source_args(install_venv.pip_settings(LISTING))
    pairs = list(zip(args[::2], args[1::2], strict=True))
    assert sorted(pairs) == sorted([
        ("--constraint", "/etc/xdg/pip/constraints.txt"),
        ("--extra-index-url", "file:///opt/pypi/simple"), ("--extra-index-url", "file:///opt/pypi-more/simple"),
        ("--find-links", "/opt/wheels"), ("--index-url", "https://mirror.example/simple"),
    ])


@pytest.mark.parametrize("option", ["no-index", "only-binary", "proxy", "pre"])
def test_an_option_uv_would_not_honour_leaves_the_install_to_pip(option, capsys):
    assert install_venv.uv_source_args(install_venv.pip_settings(LISTING + f"global.{option}='x'\n")) is None
    assert f"{option!r} has no translation for uv; installing with pip" in capsys.readouterr().out


def test_without_uv_the_install_falls_back_to_pip(monkeypatch, capsys):
    """No network for PyPI: installing uv fails, and pip installs the same requirements."""
    calls = []

    def fake_run(command):
        calls.append(command)
        return not (command[1:4] == ["-m", "pip", "install"] and "uv" in command)  # only uv's install fails

    monkeypatch.setattr(install_venv, "run", fake_run)
    monkeypatch.setattr(install_venv.sys, "prefix", "/somewhere/.venv")
    assert install_venv.main(["--", "-e", ".[book,test]"]) == 0
    assert "uv could not be installed; installing with pip" in capsys.readouterr().out
    assert calls[-1][-2:] == ["-e", ".[book,test]"] and "uv" not in calls[-1]


def test_refuses_the_systems_python():
    done = subprocess.run([sys.executable, "-c", "import sys; sys.prefix = sys.base_prefix; "
                           "from tools import install_venv; install_venv.main(['x'])"],
                          capture_output=True, text=True, cwd=install_venv.__file__.rsplit("/tools/", 1)[0])
    assert done.returncode != 0 and "virtual environment's Python" in done.stderr
