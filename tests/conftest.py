"""Shared fixtures: small, fast data and a guaranteed-offline environment for every test."""

from __future__ import annotations

import shutil

import pytest
import torch

from .apt import apt_install, apt_prefix

# The unit tests use tiny models, for which a second thread only adds synchronisation cost
# (and, on a busy 2-core machine, spinning threads that slow everything down).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _offline_and_seeded(monkeypatch):
    # No test may touch the network, and every test starts from the same random state.
    monkeypatch.setenv("VAELIB_OFFLINE", "1")
    monkeypatch.delenv("VAELIB_DEVICE", raising=False)
    monkeypatch.delenv("VAELIB_STRICT_CHECKS", raising=False)
    torch.manual_seed(0)


@pytest.fixture
def float64_default():
    """Tensors are created in float64 inside the test (closed forms checked to many digits)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture(scope="session")
def mnist_subset():
    """The bundled 4,000 / 1,000 MNIST subset, loaded once."""
    from vaelib.data import load_mnist

    return load_mnist("train", source="subset", verbose=False), load_mnist(
        "test", source="subset", verbose=False
    )


def _install_bubblewrap() -> str:
    """apt-get install bubblewrap (as root or with passwordless sudo); what went wrong, if anything."""
    prefix = apt_prefix()
    if prefix is None:
        return ("not root and no passwordless sudo on Debian/Ubuntu: install bubblewrap with your "
                "package manager (`sudo apt-get install bubblewrap`)")
    return apt_install("bubblewrap", installed=lambda: shutil.which("bwrap") is not None,
                       prefix=prefix, timeout=600)


@pytest.fixture(scope="session")
def bubblewrap() -> str:
    """The bwrap executable the grading sandbox needs, installed on first use where possible.

    The grading tests never skip: a machine that cannot sandbox fails them with what to do.
    """
    from coursegrader.sandbox import find_bwrap

    path, why = find_bwrap()
    if path is None and shutil.which("bwrap") is None:
        problem = _install_bubblewrap()
        path, why = find_bwrap()
        why = f"{why} ({problem})" if problem else why
    if path is None:
        pytest.fail(f"the grading sandbox cannot run here: {why}")
    return path
