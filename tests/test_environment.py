"""The environment files say what pyproject.toml says, in each installer's own package names.

- environment.yml (conda, the whole toolchain) lists every dependency of every extra, under the
  name conda-forge gives that package, or in its ``pip:`` section when conda-forge's package of
  that name is something else (``playwright`` there is the Node.js tool).
- binder/environment.yml (the learner on Binder) lists the package's own dependencies and
  JupyterLab, nothing of the book or the tests.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# PyPI name -> conda-forge name, where they differ.
PYPI_TO_CONDA = {"torch": "pytorch"}
# Names whose conda-forge package is not the PyPI package: these must come from pip.
NOT_ON_CONDA_FORGE = {"playwright": "conda-forge's playwright is the Node.js tool, not the Python module"}
CONDA_ONLY = {"python", "pip"}
CONDA_TO_PYPI = {conda: pypi for pypi, conda in PYPI_TO_CONDA.items()}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _spec(requirement: str) -> str:
    """The version bounds of a requirement, spaces and comments removed."""
    text = requirement.split("#")[0].replace(" ", "")
    return text[len(_name(text)):]


def _pyproject() -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """(core dependencies, extras), each as PyPI name -> version bounds."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_name(r): _spec(r) for r in data["dependencies"]}
    extras = {extra: {_name(r): _spec(r) for r in reqs}
              for extra, reqs in data["optional-dependencies"].items()}
    return core, extras


def _environment(path: Path) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(conda packages as PyPI name -> bounds, pip packages likewise, the pip lines themselves)."""
    env = yaml.safe_load(path.read_text())
    conda, pip, pip_lines = {}, {}, []
    for entry in env["dependencies"]:
        if isinstance(entry, dict):  # the nested `pip:` list
            pip_lines = [str(line) for line in entry["pip"]]
            for line in pip_lines:
                if not line.startswith("-"):
                    pip[_name(line)] = _spec(line)
            continue
        name = _name(entry)
        if name not in CONDA_ONLY:
            conda[CONDA_TO_PYPI.get(name, name)] = _spec(entry)
    return conda, pip, pip_lines


def _conda_names(path: Path) -> list[str]:
    env = yaml.safe_load(path.read_text())
    return [_name(e) for e in env["dependencies"] if isinstance(e, str)]


def test_environment_yml_lists_every_dependency_with_the_same_bounds():
    core, extras = _pyproject()
    wanted = dict(core)
    for reqs in extras.values():
        wanted.update(reqs)
    conda, pip, _ = _environment(ROOT / "environment.yml")
    listed = {**conda, **pip}
    assert set(listed) == set(wanted), (
        f"only in pyproject.toml: {sorted(set(wanted) - set(listed))}; "
        f"only in environment.yml: {sorted(set(listed) - set(wanted))}"
    )
    for name, bounds in wanted.items():
        assert listed[name] == bounds, f"{name}: pyproject {bounds!r} vs environment.yml {listed[name]!r}"
    assert not set(conda) & set(pip), "a package is listed for both conda and pip"


def test_environment_yml_uses_conda_forge_names():
    for path in (ROOT / "environment.yml", ROOT / "binder" / "environment.yml"):
        names = _conda_names(path)
        for pypi, conda in PYPI_TO_CONDA.items():
            assert pypi not in names, f"{path.name}: conda-forge calls {pypi!r} {conda!r}"
        for name, why in NOT_ON_CONDA_FORGE.items():
            assert name not in names, f"{path.name}: {name} must come from pip ({why})"


def test_environment_yml_installs_the_package_itself():
    _, _, pip_lines = _environment(ROOT / "environment.yml")
    assert "-e ." in pip_lines


def test_binder_environment_is_the_learners():
    """Binder gets the package's dependencies and JupyterLab, and none of the book or test tools."""
    core, extras = _pyproject()
    conda, pip, _ = _environment(ROOT / "binder" / "environment.yml")
    assert not pip, "binder/postBuild installs the package; the rest comes from conda-forge"
    assert set(conda) == set(core) | set(extras["lab"]), (
        f"missing: {sorted(set(core) | set(extras['lab']) - set(conda))}; "
        f"not needed by a learner: {sorted(set(conda) - set(core) - set(extras['lab']))}"
    )
    for name, bounds in {**core, **extras["lab"]}.items():
        assert conda[name] == bounds, f"{name}: pyproject {bounds!r} vs binder {conda[name]!r}"
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install --no-deps" in post_build


def test_supported_pythons_agree():
    """requires-python, the conda pin and the tested versions of the CI matrix say the same."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    classified = [c.rsplit(" :: ", 1)[1] for c in project["classifiers"]
                  if c.startswith("Programming Language :: Python :: 3.")]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python>=3.11,<3.14" in env["dependencies"]
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "tests.yml").read_text())
    matrix = workflow["jobs"]["python-versions"]["strategy"]["matrix"]["python"]
    assert matrix == ["3.12", "3.13"]
    assert classified == ["3.11", *matrix]
    main_job = workflow["jobs"]["test"]["steps"]
    assert {"python-version": "3.11"} in [step.get("with") for step in main_job]


def test_required_course_dependencies_are_listed():
    core, extras = _pyproject()
    names = set(core) | {name for reqs in extras.values() for name in reqs}
    for needed in ["torch", "torchvision", "numpy", "sympy", "matplotlib", "ipywidgets", "anywidget",
                   "tqdm", "jupyter-book", "nbval", "mlxtend", "jupyterlab"]:
        assert needed in names
    # the learner's extra stays lean: the notebooks need the package, JupyterLab and its MyST
    # renderer (the chapters' directives, roles and exercises), nothing else
    assert set(extras["lab"]) == {"jupyterlab", "jupyterlab-myst"}
