"""The conditional VAE: shapes, the label's effect, label validation, the loss, checkpoints."""

from __future__ import annotations

import pytest
import torch

import vaelib
from vaelib.losses import conditional_elbo
from vaelib.models import ConditionalVAE


def _model(latent_dim=3, **kwargs):
    torch.manual_seed(0)
    return ConditionalVAE(latent_dim, hidden=(32,), **kwargs)


def test_shapes():
    model = _model(3)
    x, y = torch.rand(5, 1, 28, 28), torch.tensor([0, 1, 2, 3, 9])
    logits, mu, logvar, z = model(x, y)
    assert logits.shape == (5, 1, 28, 28)
    assert mu.shape == logvar.shape == z.shape == (5, 3)
    assert model.sample(torch.tensor([4, 4, 7])).shape == (3, 1, 28, 28)
    assert model.sample([1, 2]).shape == (2, 1, 28, 28)
    out = model.reconstruct(x, y)
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1
    assert model.swap_labels(x, y, (y + 1) % 10).shape == x.shape


def test_label_changes_the_output():
    model = _model(2)
    z = torch.randn(4, 2)
    a = model.decode(z, torch.tensor([0, 0, 0, 0]))
    b = model.decode(z, torch.tensor([5, 5, 5, 5]))
    assert not torch.allclose(a, b)
    x = torch.rand(4, 1, 28, 28)
    mu_a, _ = model.encode(x, torch.tensor([0, 1, 2, 3]))
    mu_b, _ = model.encode(x, torch.tensor([3, 2, 1, 0]))
    assert not torch.allclose(mu_a, mu_b)
    gen = torch.Generator().manual_seed(0)
    s0 = model.sample([0, 0], generator=gen)
    gen.manual_seed(0)
    s1 = model.sample([1, 1], generator=gen)
    assert not torch.allclose(s0, s1)


@pytest.mark.parametrize("labels,err,match", [
    (torch.tensor([0, 1, 10]), ValueError, r"0\.\.9"),
    (torch.tensor([-1, 1, 2]), ValueError, r"0\.\.9"),
    (torch.tensor([0.0, 1.0, 2.0]), TypeError, "integer class indices"),
    (torch.nn.functional.one_hot(torch.tensor([0, 1, 2]), 10), ValueError, r"shape \(B,\)"),
    (torch.tensor([0, 1]), ValueError, "one label per row"),
])
def test_bad_labels_are_explained(labels, err, match):
    model = _model(2)
    with pytest.raises(err, match=match):
        model.decode(torch.randn(3, 2), labels)


def test_sample_rejects_out_of_range_labels():
    with pytest.raises(ValueError, match=r"0\.\.9"):
        _model(2).sample([3, 11])
    with pytest.raises(ValueError, match="non-empty"):
        _model(2).sample([])


def test_num_classes_and_config():
    model = _model(2, num_classes=3)
    with pytest.raises(ValueError, match=r"0\.\.2"):
        model.sample([3])
    assert model.config["num_classes"] == 3
    with pytest.raises(ValueError, match="num_classes"):
        ConditionalVAE(2, num_classes=1)


def test_conditional_elbo_reduction_matches_the_unconditional_one():
    model = _model(3)
    x = torch.bernoulli(torch.full((6, 1, 28, 28), 0.3))
    y = torch.arange(6)
    torch.manual_seed(1)
    terms = conditional_elbo(model, x, y)
    torch.manual_seed(1)
    logits, mu, logvar, _ = model(x, y)
    rec = vaelib.bernoulli_log_likelihood(logits, x)  # (B,) nats
    kl = vaelib.kl_standard_normal(mu, logvar)  # (B,) nats
    assert torch.allclose(terms.reconstruction, rec.mean())
    assert torch.allclose(terms.kl, kl.mean())
    assert torch.allclose(terms.loss, -(rec - kl).mean())
    assert torch.allclose(terms.elbo, terms.reconstruction - terms.kl)


def test_fit_trains_a_cvae_with_labels():
    model = _model(2)
    x = torch.bernoulli(torch.full((200, 1, 28, 28), 0.2))
    y = torch.randint(0, 10, (200,))
    history = vaelib.fit(model, conditional_elbo, x, y=y, steps=30, batch_size=50, progress=False)
    assert history.train["loss"][-1] < history.train["loss"][0]


def test_checkpoint_round_trip(tmp_path):
    model = _model(2)
    path = vaelib.save_checkpoint(model, tmp_path / "cvae.pt")
    loaded = vaelib.load_checkpoint(path)
    assert isinstance(loaded, ConditionalVAE)
    z, y = torch.randn(3, 2), torch.tensor([1, 2, 3])
    assert torch.allclose(model.decode(z, y), loaded.decode(z, y))


def test_same_style_grid_and_conditional_explorer():
    from matplotlib.colors import to_rgba

    from vaelib import plots
    from vaelib.widgets import ConditionalExplorer

    model = _model(3).eval()
    seen = []

    def decode(z, y):
        seen.append(y.clone())
        return torch.sigmoid(model.decode(z, y))

    fig = plots.same_style_grid(decode, torch.randn(2, 3), row_labels=["a", "b"])
    assert to_rgba(fig.get_facecolor()) == (1.0, 1.0, 1.0, 1.0) and fig.axes[0].get_title()
    assert seen[-1].tolist() == list(range(10)) * 2  # every label for each style, row-major

    explorer = ConditionalExplorer(decode, 3, label=4, static_styles=torch.randn(3, 3))
    assert explorer.image.shape == (1, 28, 28)
    before = explorer.image.clone()
    explorer.picker.value = 7  # the label picker redraws the digit
    assert explorer.label == 7 and not torch.allclose(before, explorer.image)
    explorer.sliders[0].value = 2.0  # a style slider redraws it too
    assert explorer.z[0] == 2.0
    bundle = explorer._repr_mimebundle_()
    assert bundle["image/png"].startswith(b"\x89PNG") and "ConditionalExplorer" in bundle["text/plain"]
    with pytest.raises(ValueError, match="label must lie"):
        ConditionalExplorer(decode, 3, label=10)
