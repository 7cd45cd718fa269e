"""One meaning for every argument check: a bool is never a count, a float never an integer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import vaelib
from vaelib._validation import batch_slices, index, indices, integer, number, positive_int
from vaelib.data.mixture import make_mixture
from vaelib.evaluate import bits_per_dim, importance_log_likelihood
from vaelib.priors import MixturePrior, StandardNormalPrior
from vaelib.schedules import cosine_lr, cyclical, linear_warmup
from vaelib.widgets import ConditionalExplorer, LatentExplorer


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), torch.tensor(3)])
def test_integers_of_every_kind_pass_as_python_ints(value):
    got = integer("n", value, at_least=1)
    assert got == 3 and type(got) is int


@pytest.mark.parametrize("value, why", [
    (True, "a bool: pass an int"), (np.bool_(True), "a bool: pass an int"),
    (torch.tensor(True), "a bool: pass an int"), (2.5, "a float: pass an int"),
    (3.0, "a float: pass an int"), (torch.tensor(3.0), "a Tensor: pass an int"), ("3", "a str: pass an int"),
])
def test_bools_floats_and_strings_are_not_integers(value, why):
    with pytest.raises(ValueError, match=rf"n must be a positive integer, got .*\({why}\)\."):
        positive_int("n", value)


def test_integer_messages_name_the_bound_and_carry_advice():
    with pytest.raises(ValueError, match=r"^k must be an integer of at least 2, got 1\. Two at least\.$"):
        integer("k", 1, at_least=2, advice="Two at least.")
    with pytest.raises(ValueError, match=r"^seed must be a non-negative integer, got -1\.$"):
        integer("seed", -1)
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer, got 2\.5"):
        batch_slices(10, 2.5)


def test_indices_and_index():
    assert indices("dims", (np.int64(1), 0), 3) == [1, 0] and index("label", torch.tensor(9), 10) == 9
    with pytest.raises(ValueError, match=r"^dims must lie in 0\.\.2, got \[0, 3\]\.$"):
        indices("dims", [0, 3], 3)
    with pytest.raises(ValueError, match=r"dims must lie in 0\.\.2, got \[0, 1\.0\] \(a float: pass an int\)"):
        indices("dims", [0, 1.0], 3)
    with pytest.raises(ValueError, match=r"list of integers"):
        indices("dims", 2, 3)
    with pytest.raises(ValueError, match=r"label must lie in 0\.\.9, got True \(a bool: pass an int\)"):
        index("label", True, 10)


@pytest.mark.parametrize("value", [0.5, 1, np.float32(0.5), torch.tensor(0.5)])
def test_real_numbers_of_every_kind_pass_as_floats(value):
    assert type(number("ratio", value, above=0, at_most=1)) is float


@pytest.mark.parametrize("value, kwargs, message", [
    (True, dict(above=0), r"beta must be a positive number, got True \(a bool: pass a number\)\."),
    ("1", dict(above=0), r"beta must be a positive number, got '1' \(a str: pass a number\)\."),
    (math.inf, dict(at_least=0), r"beta must be a non-negative number, got inf \(not finite\)\."),
    (math.nan, dict(above=0), r"beta must be a positive number, got nan \(not finite\)\."),
    (0.0, dict(above=0, at_most=1), r"beta must be a number in \(0, 1\], got 0\.0\."),
    (1.0, dict(above=0, below=1), r"beta must be a number in \(0, 1\), got 1\.0\."),
    (-1.0, dict(at_least=-0.5), r"beta must be a number of at least -0\.5, got -1\.0\."),
])
def test_numbers_say_which_range_was_wanted(value, kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        number("beta", value, **kwargs)


# ---------------------------------------------------------- the disagreements the library had
def test_a_bool_is_not_a_latent_size():
    for make in (vaelib.VAE, vaelib.Autoencoder, vaelib.ConditionalVAE):
        with pytest.raises(ValueError, match=r"latent_dim must be a positive integer, got True \(a bool: pass an int\)"):
            make(True)
    with pytest.raises(ValueError, match=r"num_classes must be an integer of at least 2, got True"):
        vaelib.ConditionalVAE(2, num_classes=True)


def test_a_float_is_not_a_number_of_samples():
    for prior in (StandardNormalPrior(2), MixturePrior(2, components=3)):
        with pytest.raises(ValueError, match=r"n must be a positive integer, got 2\.5 \(a float: pass an int\)"):
            prior.sample(2.5)
    with pytest.raises(ValueError, match=r"n must be a positive integer, got 2\.5"):
        vaelib.VAE(2, hidden=(8,)).sample(2.5)
    with pytest.raises(ValueError, match=r"latent_dim must be a positive integer, got 2\.5"):
        MixturePrior(2.5)


def test_hidden_sizes_are_not_truncated():
    with pytest.raises(ValueError, match=r"each hidden size must be a positive integer, got 400\.5"):
        vaelib.VAE(2, hidden=(400.5,))


@pytest.mark.parametrize("call, message", [
    (lambda: vaelib.seed_everything(True), r"seed must be a non-negative integer, got True"),
    (lambda: linear_warmup(True), r"steps must be a non-negative integer, got True"),
    (lambda: cyclical(10, cycles=2.5), r"cycles must be a positive integer, got 2\.5"),
    (lambda: cyclical(10, ratio=True), r"ratio must be a number in \(0, 1\], got True"),
    (lambda: cosine_lr(10, warmup=2.5), r"warmup must be a non-negative integer, got 2\.5"),
    (lambda: cosine_lr(10)(1.5), r"step must be a non-negative integer, got 1\.5"),
    (lambda: make_mixture(n=2.5), r"n must be a positive integer, got 2\.5"),
    (lambda: make_mixture(modes=True), r"modes must be a positive integer, got True"),
    (lambda: make_mixture(std=True), r"std must be a positive number, got True"),
    (lambda: bits_per_dim(90.0, 784.0), r"dims must be a positive integer, got 784\.0.*x\[0\]\.numel\(\)"),
    (lambda: vaelib.make_sprites(n=2.5), r"n must be a positive integer, got 2\.5"),
    (lambda: vaelib.make_sprites(scales=True), r"scales must be a positive integer, got True"),
    (lambda: vaelib.make_sprites(size=32.0), r"size must be an integer of at least 8, got 32\.0"),
])
def test_library_entry_points_refuse_bools_and_floats_alike(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_evaluation_and_widgets_refuse_them_too():
    model = vaelib.VAE(2, hidden=(8,), image_shape=(1, 3, 3))
    x = torch.rand(4, 1, 3, 3).round()
    for samples in (True, 2.5):
        with pytest.raises(ValueError, match=r"samples must be a positive integer"):
            importance_log_likelihood(model, x, samples=samples)
    with pytest.raises(ValueError, match=r"dims must lie in 0\.\.1, got \[0\.5\] \(a float: pass an int\)"):
        LatentExplorer(model, dims=[0.5])
    cvae = vaelib.ConditionalVAE(2, hidden=(8,), image_shape=(1, 3, 3))
    with pytest.raises(ValueError, match=r"label must lie in 0\.\.9, got 2\.5 \(a float: pass an int\)"):
        ConditionalExplorer(cvae, label=2.5)
