"""environment.yml (conda) and pyproject.toml (pip) must name the same dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"pytorch": "torch"}
CONDA_ONLY = {"python", "pip"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(data["dependencies"])
    for extra in data["optional-dependencies"].values():
        reqs += extra
    return {_name(r): r.replace(" ", "") for r in reqs}


def _conda() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for entry in env["dependencies"]:
        if not isinstance(entry, str):  # the nested `pip:` list installs the project itself
            continue
        name = _name(entry)
        if name in CONDA_ONLY:
            continue
        pypi = CONDA_TO_PYPI.get(name, name)
        out[pypi] = pypi + entry.strip()[len(name):].replace(" ", "")
    return out


def test_same_packages():
    assert set(_pyproject()) == set(_conda())


def test_same_version_bounds():
    pip, conda = _pyproject(), _conda()
    for name in pip:
        spec_pip = pip[name][len(name):] if pip[name].lower().startswith(name) else pip[name]
        spec_conda = conda[name][len(name):]
        assert spec_pip.split("#")[0] == spec_conda, f"{name}: pyproject {spec_pip!r} vs conda {spec_conda!r}"


def test_required_course_dependencies_are_listed():
    names = set(_pyproject())
    for needed in ["torch", "torchvision", "numpy", "sympy", "matplotlib", "ipywidgets", "tqdm",
                   "jupyter-book", "nbval", "mlxtend"]:
        assert needed in names
