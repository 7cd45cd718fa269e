from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from vaelib.runtime import env_flag, get_device, seed_everything


def test_default_device_is_cpu_without_accelerators(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("vaelib.runtime._mps_available", lambda: False)
    assert get_device() == torch.device("cpu")


def test_cuda_preferred_when_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device() == torch.device("cuda")


def test_mps_preferred_over_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("vaelib.runtime._mps_available", lambda: True)
    assert get_device() == torch.device("mps")


def test_environment_variable_overrides_autodetection(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("VAELIB_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


def test_argument_overrides_environment(monkeypatch):
    monkeypatch.setenv("VAELIB_DEVICE", "not-a-device")
    assert get_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("value", ["", "auto"])
def test_empty_or_auto_variable_means_autodetect(monkeypatch, value):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("vaelib.runtime._mps_available", lambda: False)
    monkeypatch.setenv("VAELIB_DEVICE", value)
    assert get_device() == torch.device("cpu")


def test_unknown_device_name_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("VAELIB_DEVICE", "gpu0")
    with pytest.raises(ValueError, match="VAELIB_DEVICE='gpu0' is not a device"):
        get_device()


def test_unavailable_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        get_device("cuda")


def test_seed_everything_repeats_all_generators():
    seed_everything(3)
    a = (random.random(), np.random.rand(), torch.rand(3))
    seed_everything(3)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_seed_must_be_a_non_negative_integer():
    with pytest.raises(ValueError, match="non-negative integer"):
        seed_everything(-1)


@pytest.mark.parametrize("raw,expected", [("1", True), ("true", True), ("YES", True), ("on", True),
                                          ("0", False), ("false", False), ("no", False), ("", False)])
def test_env_flag_parses_explicitly(monkeypatch, raw, expected):
    monkeypatch.setenv("SOME_FLAG", raw)
    assert env_flag("SOME_FLAG") is expected


def test_env_flag_rejects_other_words(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "maybe")
    with pytest.raises(ValueError, match="not a yes/no value"):
        env_flag("SOME_FLAG")


def test_env_flag_default_when_unset(monkeypatch):
    monkeypatch.delenv("SOME_FLAG", raising=False)
    assert env_flag("SOME_FLAG", default=True) is True
