"""Shared fixtures: small, fast data and a guaranteed-offline environment for every test."""

from __future__ import annotations

import pytest
import torch

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


@pytest.fixture(scope="session")
def mnist_subset():
    """The bundled 4,000 / 1,000 MNIST subset, loaded once."""
    from vaelib.data import load_mnist

    return load_mnist("train", source="subset", verbose=False), load_mnist(
        "test", source="subset", verbose=False
    )
