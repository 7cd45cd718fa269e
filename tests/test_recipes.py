from __future__ import annotations

import pytest
import torch

from vaelib.recipes import COURSE_RECIPE, PLAIN_RECIPE, Recipe, train_vae


def test_recipes_differ_only_in_how_they_train():
    assert PLAIN_RECIPE.steps == COURSE_RECIPE.steps  # compared at the same budget
    assert (PLAIN_RECIPE.latent_dim, PLAIN_RECIPE.hidden) == (COURSE_RECIPE.latent_dim, COURSE_RECIPE.hidden) == (20, (400,))
    assert PLAIN_RECIPE.lr == 1e-3 and PLAIN_RECIPE.schedule == "constant" and PLAIN_RECIPE.batch_size == 100
    assert COURSE_RECIPE.with_steps(10).steps == 10 and COURSE_RECIPE.with_steps(10).lr == COURSE_RECIPE.lr


def test_unknown_schedule():
    with pytest.raises(ValueError, match="schedule='step' is unknown"):
        Recipe(name="x", steps=1, schedule="step")


def test_train_vae_is_reproducible():
    x = torch.rand(100, 1, 28, 28)
    recipe = COURSE_RECIPE.with_steps(5)
    a, ha = train_vae(recipe, x, progress=False)
    b, hb = train_vae(recipe, x, progress=False)
    assert ha.train["loss"] == hb.train["loss"]
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_train_new_model_seeds_then_builds_then_fits():
    from vaelib import fit, seed_everything
    from vaelib.models import VAE
    from vaelib.train import train_new_model

    x = torch.rand(60, 1, 4, 4)

    def loss(m, xb):
        return {"loss": (torch.sigmoid(m(xb)[0]) - xb).pow(2).sum()}

    model, history = train_new_model(lambda: VAE(2, hidden=(8,), image_shape=(1, 4, 4)), loss, x,
                                     seed=3, steps=4, batch_size=20, progress=False)
    # By hand: the same three steps in the same order give the same weights.
    seed_everything(3)
    by_hand = VAE(2, hidden=(8,), image_shape=(1, 4, 4))
    hand_history = fit(by_hand, loss, x, steps=4, batch_size=20, seed=3, progress=False)
    assert not model.training and history.train["loss"] == hand_history.train["loss"]
    for pa, pb in zip(model.parameters(), by_hand.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_a_printed_recipe_fits_the_book_column():
    from vaelib.recipes import COURSE_RECIPE, SPRITES_RECIPE

    for recipe in (COURSE_RECIPE, SPRITES_RECIPE):
        text = str(recipe)
        assert all(len(line) <= 88 for line in text.splitlines()), text
        assert text.startswith(f"Recipe {recipe.name!r}:")
        for name, value in recipe.describe().items():
            if name != "name":
                assert f"{name}={value!r}" in text  # each field whole, on one line


def test_train_new_model_makes_the_optimizer_for_the_model_it_built():
    from vaelib.models import VAE
    from vaelib.train import train_new_model

    made = []

    def sgd_on_the_decoder(model):
        made.append(model)
        return torch.optim.SGD(model.decoder.parameters(), lr=0.1)

    x = torch.rand(40, 1, 4, 4)
    model, _ = train_new_model(lambda: VAE(2, hidden=(8,), image_shape=(1, 4, 4)),
                               lambda m, xb: {"loss": (torch.sigmoid(m(xb)[0]) - xb).pow(2).sum()}, x,
                               seed=0, steps=3, batch_size=20, optimizer=sgd_on_the_decoder, progress=False)
    assert made == [model]
    fresh, _ = train_new_model(lambda: VAE(2, hidden=(8,), image_shape=(1, 4, 4)),
                               lambda m, xb: {"loss": (torch.sigmoid(m(xb)[0]) - xb).pow(2).sum()}, x,
                               seed=0, steps=1, batch_size=20, lr=1e-9, progress=False)
    for a, b in zip(model.encoder.parameters(), fresh.encoder.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)  # only the decoder was given to the optimizer

