from __future__ import annotations

import pytest
import torch
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from vaelib import plots
from vaelib.models import VAE
from vaelib.train import History
from vaelib.widgets import ConditionalExplorer, LatentExplorer, PlaneExplorer, image_png


def _opaque_white(fig: Figure) -> bool:
    return to_rgba(fig.get_facecolor()) == (1.0, 1.0, 1.0, 1.0)


def _decoder(latent_dim=3):
    model = VAE(latent_dim, hidden=(16,)).eval()
    return model, (lambda z: torch.sigmoid(model.decode(z)))


def test_figures_are_opaque_and_titled():
    imgs = torch.rand(12, 1, 28, 28)
    history = History()
    for step in range(1, 101):
        history.record(step, {"reconstruction": -100.0 + step, "kl": 10.0})
    history.evals.append({"step": 100, "test_elbo": -95.0})
    _, decode = _decoder(2)
    figures = [
        plots.image_grid(imgs, ncols=6, title="grid"),
        plots.reconstructions(imgs, imgs, n=6, title="rec"),
        plots.training_curves(history, keys=("reconstruction", "kl"), eval_keys=("test_elbo",), title="t"),
        plots.latent_scatter(torch.randn(50, 2), torch.randint(0, 10, (50,)), title="scatter"),
        plots.manifold_grid(decode, n=5, title="manifold"),
        plots.interpolation(imgs[:8], title="interp"),
        plots.traversal_grid(decode, torch.zeros(2), title="trav"),
    ]
    for fig in figures:
        assert isinstance(fig, Figure) and _opaque_white(fig)
        assert fig.axes[0].get_title() or fig.get_suptitle()


def test_bad_shapes_are_explained():
    with pytest.raises(ValueError, match="single-channel"):
        plots.image_grid(torch.rand(4, 3, 28, 28))
    with pytest.raises(ValueError, match=r"2-D codes \(N, 2\)"):
        plots.latent_scatter(torch.randn(10, 5), torch.zeros(10))
    with pytest.raises(KeyError, match="no training term 'kl'"):
        plots.training_curves(History(), keys=("kl",))


def test_traversal_grid_rows_vary_one_dimension():
    seen = []

    def decode(z):
        seen.append(z.clone())
        return torch.zeros(z.shape[0], 1, 4, 4)

    plots.traversal_grid(decode, torch.tensor([0.5, -0.5, 0.0]), dims=[0, 2], values=[-1.0, 1.0])
    codes = seen[0]
    assert codes.tolist() == [[-1.0, -0.5, 0.0], [1.0, -0.5, 0.0], [0.5, -0.5, -1.0], [0.5, -0.5, 1.0]]


def test_image_png_is_a_png_of_the_right_size():
    from io import BytesIO

    from PIL import Image

    png = image_png(torch.rand(1, 28, 28), scale=4)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(BytesIO(png)).size == (112, 112)


def test_latent_explorer_renders_on_construction_and_follows_sliders():
    model, decode = _decoder(3)
    explorer = LatentExplorer(decode, 3)
    first = explorer.picture.value
    assert first and torch.allclose(explorer.image, decode(torch.zeros(1, 3))[0].detach())
    explorer.sliders[1].value = 2.0
    assert explorer.z.tolist() == [0.0, 2.0, 0.0]
    assert torch.allclose(explorer.image, decode(torch.tensor([[0.0, 2.0, 0.0]]))[0].detach())
    assert explorer.picture.value != first
    explorer.set(torch.zeros(3))
    assert explorer.sliders[1].value == 0.0 and explorer.picture.value == first


def test_explorers_offer_a_static_png_next_to_the_widget():
    _, decode = _decoder(3)
    for explorer in (LatentExplorer(decode, 3), PlaneExplorer(decode, 3, dims=(0, 2), grid=5)):
        bundle = explorer._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle
        assert bundle["image/png"][:4] == b"\x89PNG"


def test_plane_explorer_moves_only_its_two_dimensions():
    _, decode = _decoder(4)
    explorer = PlaneExplorer(decode, 4, dims=(1, 3), z0=torch.full((4,), 0.5), grid=5)
    explorer.sliders[0].value, explorer.sliders[1].value = -1.0, 2.0
    assert explorer.z.tolist() == [0.5, -1.0, 0.5, 2.0]


@pytest.mark.parametrize("kwargs,message", [
    ({"dims": [5]}, "dims must lie in 0..2"),
    ({"z0": torch.zeros(4)}, "z0 has 4 entries but latent_dim is 3"),
])
def test_latent_explorer_bad_arguments(kwargs, message):
    _, decode = _decoder(3)
    with pytest.raises(ValueError, match=message):
        LatentExplorer(decode, 3, **kwargs)


def test_plane_explorer_bad_dims():
    _, decode = _decoder(3)
    with pytest.raises(ValueError, match="two different dimensions"):
        PlaneExplorer(decode, 3, dims=(1, 1))


def test_explorers_display_their_figure_with_an_alt_text():
    from unittest import mock

    _, decode = _decoder(3)
    explorers = [LatentExplorer(decode, 3, dims=[0, 2]), PlaneExplorer(decode, 3, dims=(0, 2), grid=5),
                 ConditionalExplorer(lambda z, y: torch.rand(len(z), 1, 8, 8), 2, num_classes=4,
                                     static_styles=torch.zeros(3, 2))]
    for explorer, words in zip(explorers, (["2 rows", "z1, z3"], ["z1 and z3", "5 by 5"],
                                           ["3 rows and 4 columns", "0 to 3"]), strict=True):
        assert all(w in explorer.alt for w in words), explorer.alt
        with mock.patch("IPython.display.display") as display:
            explorer._ipython_display_()
        (bundle,), kwargs = display.call_args
        assert bundle["image/png"] == explorer.static_png and kwargs["raw"]
        assert kwargs["metadata"] == {"image/png": {"alt": explorer.alt}}
