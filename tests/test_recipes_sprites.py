from __future__ import annotations

import pytest
import torch

from vaelib.data import make_sprites
from vaelib.recipes import SPRITES_RECIPE, train_vae


@pytest.fixture(scope="module")
def sprites_x():
    return make_sprites(size=16, shapes=("square",), scales=1, orientations=1, positions=4).x


def test_sprites_recipe_is_small():
    assert SPRITES_RECIPE.latent_dim == 6 and SPRITES_RECIPE.schedule == "constant"
    assert SPRITES_RECIPE.steps * SPRITES_RECIPE.batch_size <= 300_000  # minutes on a CPU


def test_train_vae_with_beta_is_reproducible_and_in_eval_mode(sprites_x):
    recipe = SPRITES_RECIPE.with_steps(4)
    recipe = recipe.__class__(**{**recipe.describe(), "batch_size": 8})
    a, ha = train_vae(recipe, sprites_x, beta=4.0, progress=False)
    b, hb = train_vae(recipe, sprites_x, beta=4.0, progress=False)
    assert not a.training and a.image_shape == (1, 16, 16)
    assert ha.train["loss"] == hb.train["loss"]
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_beta_weights_the_kl(sprites_x):
    recipe = SPRITES_RECIPE.__class__(**{**SPRITES_RECIPE.describe(), "steps": 1, "batch_size": 16})
    _, h1 = train_vae(recipe, sprites_x, beta=1.0, progress=False)
    _, h8 = train_vae(recipe, sprites_x, beta=8.0, progress=False)
    # Same seed, same first batch and noise: the losses differ by 7 times the KL.
    rec, kl = h1.train["reconstruction"][0], h1.train["kl"][0]
    assert h1.train["loss"][0] == pytest.approx(-rec + kl, rel=1e-5)
    assert h8.train["loss"][0] == pytest.approx(-rec + 8 * kl, rel=1e-5)


@pytest.mark.parametrize("beta", [0, -1.0, True, "4"])
def test_bad_beta(sprites_x, beta):
    with pytest.raises(ValueError, match="beta must be a positive number"):
        train_vae(SPRITES_RECIPE, sprites_x, beta=beta, progress=False)


def test_bad_images():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        train_vae(SPRITES_RECIPE, torch.zeros(10, 256), progress=False)


def test_binary_data_is_used_as_it_is_and_grey_levels_are_binarized(sprites_x, monkeypatch):
    import vaelib.recipes as recipes
    import vaelib.train as train

    seen = []
    real_fit = train.fit

    def spy(model, loss_fn, x, **kw):
        seen.append(kw["transform"])
        return real_fit(model, loss_fn, x, **kw)

    monkeypatch.setattr(train, "fit", spy)
    small = {**SPRITES_RECIPE.describe(), "steps": 1, "batch_size": 8}
    del small["dynamic_binarization"]
    train_vae(SPRITES_RECIPE.__class__(**small, dynamic_binarization=False), sprites_x, progress=False)
    train_vae(SPRITES_RECIPE.__class__(**small, dynamic_binarization=True), sprites_x, progress=False)
    assert seen[0] is None and seen[1] is recipes.binarize
