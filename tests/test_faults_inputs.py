"""Inputs of the wrong kind get the library's own errors, not raw PyTorch ones (issue 17)."""

from __future__ import annotations

import pytest
import torch

from vaelib.data import binarize, fixed_binarization
from vaelib.models import VAE, Autoencoder, ConditionalVAE


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.bool])
def test_binarize_rejects_integer_images_and_says_how_to_convert(dtype):
    x = torch.randint(0, 2 if dtype is torch.bool else 256, (2, 1, 4, 4)).to(dtype)
    with pytest.raises(ValueError, match=rf"binarize needs float grey levels.*{str(dtype)[6:]}.*float\(\) / 255"):
        binarize(x)
    with pytest.raises(ValueError, match="binarize needs float grey levels"):
        fixed_binarization(x)


def test_binarize_still_takes_float64_grey_levels():
    x = torch.full((4, 1, 28, 28), 0.5, dtype=torch.float64)
    out = binarize(x, generator=torch.Generator().manual_seed(0))
    assert out.dtype == torch.float64 and set(out.unique().tolist()) == {0.0, 1.0}


def _encode(model, x):
    if isinstance(model, ConditionalVAE):
        return model.encode(x, torch.zeros(x.shape[0], dtype=torch.long))
    return model.encode(x)


MODELS = [
    lambda: Autoencoder(2, hidden=(8,)),
    lambda: VAE(2, hidden=(8,)),
    lambda: VAE(2, hidden=(8,), arch="conv"),
    lambda: ConditionalVAE(2, hidden=(8,)),
]


@pytest.mark.parametrize("make", MODELS)
def test_float64_images_to_a_model_are_a_clear_error(make):
    x = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"images are torch\.float64 but the model computes in torch\.float32.*x\.float\(\)"):
        _encode(make(), x)


@pytest.mark.parametrize("make", MODELS)
def test_integer_images_to_a_model_are_a_clear_error(make):
    x = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"images are torch\.uint8.*x\.float\(\) / 255"):
        _encode(make(), x)


def test_a_float64_model_takes_float64_images():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        model = VAE(2, hidden=(8,))
        mu, _ = model.encode(torch.rand(3, 1, 28, 28))
        assert mu.dtype == torch.float64
    finally:
        torch.set_default_dtype(previous)
