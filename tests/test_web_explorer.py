"""The kernel-free explorer: exporting a decoder to the page and the HTML it writes.

The JavaScript side (decoding in a real browser, sliders, buttons, the map) is tested in
tests/browser/test_explorers.py.
"""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
import torch

from vaelib.models import VAE, Autoencoder, ConditionalVAE
from vaelib.web_explorer import UnsupportedDecoder, explorer_html, export_decoder
from vaelib.widgets import ConditionalExplorer, LatentExplorer, PlaneExplorer


def _payload(html: str) -> dict:
    match = re.search(r'<script type="application/json" class="vaelib-explorer-data">(.*?)</script>', html, re.S)
    assert match, "the explorer's data block is missing"
    return json.loads(match.group(1))


def test_page_weights_are_the_float16_roundings():
    torch.manual_seed(0)
    vae = VAE(4, hidden=(32, 16))
    export = export_decoder(vae)
    linears = [m for m in vae.decoder.modules() if isinstance(m, torch.nn.Linear)]
    assert [tuple(layer.weight16.shape) for layer in export.layers] == [(16, 4), (32, 16), (784, 32)]
    for layer, linear in zip(export.layers, linears, strict=True):
        w = linear.weight.detach()
        assert layer.weight16.dtype == np.float16
        # float16 keeps 11 significant bits: a relative error of at most 2^-11 (plus the
        # absolute 2^-25 of the subnormal range)
        assert ((layer.weight - w).abs() <= w.abs() * 2**-11 + 2**-25).all()
        assert np.array_equal(layer.bias, linear.bias.detach().numpy())
    assert export.nbytes == sum(2 * m.weight.numel() + 4 * m.bias.numel() for m in linears)


@pytest.mark.parametrize("model", [VAE(3, hidden=(64,)), Autoencoder(3, hidden=(64,)),
                                   VAE(6, hidden=(32, 16), image_shape=(1, 16, 16))])
def test_exported_decoder_matches_the_model(model):
    torch.manual_seed(1)
    z = torch.randn(16, model.latent_dim)
    with torch.no_grad():
        full = torch.sigmoid(model.decode(z))
    page = export_decoder(model).decode(z)
    assert page.shape == full.shape
    assert (page - full).abs().max() < 0.002  # float16 weights: the images agree to 0.2%


def test_conditional_decoder_exports_with_its_one_hot_input():
    torch.manual_seed(2)
    cvae = ConditionalVAE(3, num_classes=4, hidden=(32,))
    export = export_decoder(cvae)
    assert export.num_classes == 4 and export.layers[0].weight16.shape == (32, 3 + 4)
    z, y = torch.randn(8, 3), torch.arange(8) % 4
    with torch.no_grad():
        full = torch.sigmoid(cvae.decode(z, y))
    assert (export.decode(z, y) - full).abs().max() < 0.002
    with pytest.raises(ValueError, match="pass the labels"):
        export.decode(z)


def test_conv_decoders_are_refused_and_the_explorer_keeps_its_figure():
    vae = VAE(2, arch="conv", hidden=(32,))
    with pytest.raises(UnsupportedDecoder, match="Linear and ReLU"):
        export_decoder(vae)
    explorer = LatentExplorer(vae)
    bundle = explorer._repr_mimebundle_()
    assert "text/html" not in bundle and bundle["image/png"][:4] == b"\x89PNG"


def test_explorers_given_a_model_carry_a_self_contained_page_version():
    torch.manual_seed(3)
    explorers = [LatentExplorer(VAE(5, hidden=(32,)), dims=[0, 2]),
                 PlaneExplorer(VAE(2, hidden=(32,)), grid=5),
                 ConditionalExplorer(ConditionalVAE(2, num_classes=3, hidden=(32,)), label=2)]
    for explorer, kind, sliders in zip(explorers, ["latent", "plane", "conditional"], [2, 2, 2], strict=True):
        bundle = explorer._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle  # JupyterLab keeps the widget
        page = bundle["text/html"]
        assert f'data-kind="{kind}"' in page and page.count('type="range"') == sliders
        # Nothing outside the page: no URL, so the explorer works offline and on any host.
        assert "http" not in page and "src=\"/" not in page
        data = _payload(page)
        assert data["latent_dim"] == explorer.z.numel()
        reference = np.frombuffer(base64.b64decode(data["reference"]), dtype="<f4")
        assert np.allclose(reference, explorer.image.numpy().ravel())  # PyTorch's image at z0
        assert 0 <= data["reference_max_diff"] < 0.002
    assert _payload(explorers[2]._repr_mimebundle_()["text/html"])["label"] == 2
    assert 'aria-pressed="true">2<' in explorers[2].web_html


def test_plane_box_maps_the_axes_corners_into_the_figure():
    explorer = PlaneExplorer(VAE(2, hidden=(16,)), grid=5, extent=(-2.0, 2.0))
    left, top, right, bottom = _payload(explorer.web_html)["plane_box"]
    assert 0 < left < right < 1 and 0 < top < bottom < 1
    assert abs((right - left) - (bottom - top)) < 0.02  # the map is square in a square figure


def test_explorer_arguments_are_checked():
    vae, cvae = VAE(3, hidden=(16,)), ConditionalVAE(3, hidden=(16,))
    with pytest.raises(TypeError, match="needs a ConditionalExplorer"):
        LatentExplorer(cvae)
    with pytest.raises(TypeError, match="needs a LatentExplorer or PlaneExplorer"):
        ConditionalExplorer(vae)
    with pytest.raises(ValueError, match="latent_dim=4 but the model's latent_dim is 3"):
        LatentExplorer(vae, 4)
    with pytest.raises(ValueError, match="latent_dim is needed"):
        LatentExplorer(lambda z: torch.sigmoid(vae.decode(z)))
    with pytest.raises(TypeError, match="not int"):
        LatentExplorer(3)
    with pytest.raises(ValueError, match="kind='slider' is unknown"):
        explorer_html(export_decoder(vae), kind="slider", title="", z0=torch.zeros(3), dims=[0],
                      value_range=(-1, 1), step=0.1, reference=torch.zeros(1, 28, 28))
