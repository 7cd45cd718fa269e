"""The kernel-free explorer (vaelib.web_explorer): exporting a decoder to the page and the HTML it
writes; the drawing pad (vaelib.drawing_pad): encoder export, preprocessing and ELBO; moving the
weights out of a page.

The JavaScript side (decoding in a real browser, sliders, buttons, the map) is tested in
tests/browser/test_explorers.py, the drawing pad in tests/browser/test_drawing_pad.py.
"""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
import torch

from vaelib.drawing_pad import DrawingPad, page_elbo, preprocess_strokes
from vaelib.losses import kl_standard_normal_per_dim
from vaelib.models import VAE, Autoencoder, ConditionalVAE
from vaelib.page_assets import externalize_weights
from vaelib.web_explorer import (
    UnsupportedDecoder,
    UnsupportedEncoder,
    explorer_html,
    export_decoder,
    export_encoder,
)
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


# --------------------------------------------------------------------------------------------
# The drawing pad
# --------------------------------------------------------------------------------------------

THREE = [[(0.30, 0.20), (0.50, 0.12), (0.68, 0.22), (0.62, 0.40), (0.45, 0.48)],
         [(0.45, 0.48), (0.70, 0.58), (0.72, 0.78), (0.50, 0.90), (0.28, 0.82)]]


@pytest.mark.parametrize("model", [VAE(3, hidden=(64,)), VAE(5, hidden=(32, 16), image_shape=(1, 16, 16))])
def test_exported_encoder_matches_the_model(model):
    torch.manual_seed(4)
    x = torch.rand(16, *model.image_shape)
    export = export_encoder(model)
    assert [layer.weight16.dtype for layer in export.layers] == [np.float16] * len(export.layers)
    mu, logvar = export.encode(x)
    with torch.no_grad():
        full_mu, full_logvar = model.encode(x)
    assert mu.shape == full_mu.shape == (16, model.latent_dim)
    # float16 weights: 11 significant bits, so a few 1e-4 after summing hundreds of products
    assert (mu - full_mu).abs().max() < 2e-3 and (logvar - full_logvar).abs().max() < 2e-3


def test_encoders_the_page_cannot_run_are_refused():
    with pytest.raises(UnsupportedEncoder, match="Linear and ReLU"):
        export_encoder(VAE(2, arch="conv", hidden=(32,)))
    with pytest.raises(UnsupportedEncoder, match="2 x latent_dim"):
        export_encoder(Autoencoder(3, hidden=(16,)))
    with pytest.raises(UnsupportedEncoder, match="label"):
        export_encoder(ConditionalVAE(3, hidden=(16,)))


def _centre_of_mass(image: torch.Tensor) -> tuple[float, float]:
    ink = image.reshape(28, 28).double()
    centre = torch.arange(28, dtype=torch.float64) + 0.5
    return float((ink.sum(0) * centre).sum() / ink.sum()), float((ink.sum(1) * centre).sum() / ink.sum())


def test_preprocessing_centres_and_scales_like_mnist():
    image = preprocess_strokes(THREE)
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert 0 <= image.min() and image.max() == 1
    x, y = _centre_of_mass(image)
    assert abs(x - 14) < 0.25 and abs(y - 14) < 0.25  # the ink's centre of mass at the centre
    rows = torch.nonzero(image[0] >= 0.5)[:, 0]
    assert 17 <= rows.max() - rows.min() + 1 <= 21  # the larger (vertical) side spans the 20-pixel box
    # Where and how large the reader draws does not matter: the same digit, moved and shrunk.
    moved = [[(0.1 + 0.5 * px, 0.3 + 0.5 * py) for px, py in stroke] for stroke in THREE]
    assert (preprocess_strokes(moved) - image).abs().max() < 1e-5
    # The aspect ratio is kept: a horizontal bar stays a bar of one stroke's width.
    bar = preprocess_strokes([[(0.2, 0.5), (0.8, 0.5)]])[0] >= 0.5
    assert bar.any(1).sum() <= 3 and bar.any(0).sum() >= 18
    assert preprocess_strokes([]).abs().max() == 0 and preprocess_strokes([[]]).abs().max() == 0


def test_brush_profile_is_full_at_the_core_and_fades_to_zero():
    # A horizontal bar is centred on y = 14 (its centre of mass), so a pixel whose centre lies at
    # distance d = |row + 0.5 - 14| from the line has ink clamp((1.9 - d) / 1.1, 0, 1).
    column = preprocess_strokes([[(0.0, 0.5), (1.0, 0.5)]])[0, :, 14]
    expected = [min(1.0, max(0.0, (1.9 - abs(row + 0.5 - 14)) / 1.1)) for row in range(28)]
    assert column.tolist() == pytest.approx(expected, abs=1e-5)
    assert expected[13] == expected[14] == 1 and expected[11] == 0 < expected[12] < 1


def test_page_elbo_is_the_bernoulli_log_likelihood_minus_the_closed_form_kl():
    torch.manual_seed(5)
    vae = VAE(4, hidden=(32,))
    x = (preprocess_strokes(THREE) >= 0.5).float()
    # With a single draw eps = 0 the reconstruction term is log p(x | z = mu) exactly.
    at_mean = page_elbo(vae.encode, vae.decode, x, torch.zeros(1, 4))
    with torch.no_grad():
        mu, logvar = vae.encode(x[None])
        log_px = -torch.nn.functional.binary_cross_entropy_with_logits(vae.decode(mu), x[None], reduction="sum")
    assert at_mean["reconstruction"] == pytest.approx(float(log_px), abs=1e-4)
    assert at_mean["kl"] == pytest.approx(float(kl_standard_normal_per_dim(mu, logvar).sum()), abs=1e-5)
    assert at_mean["elbo"] == pytest.approx(at_mean["reconstruction"] - at_mean["kl"], abs=1e-6)
    # The reconstruction term averages the draws' log-likelihoods.
    eps = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    each = [page_elbo(vae.encode, vae.decode, x, e[None])["reconstruction"] for e in eps]
    assert page_elbo(vae.encode, vae.decode, x, eps)["reconstruction"] == pytest.approx(sum(each) / 3, abs=1e-4)


def _models():
    torch.manual_seed(6)
    return VAE(2, hidden=(32,)), VAE(6, hidden=(32,))


def test_drawing_pad_carries_its_models_draws_and_references():
    plane, latent = _models()
    codes, labels = torch.randn(50, 2), torch.arange(50) % 10
    pad = DrawingPad(plane, latent, plane_codes=codes, plane_labels=labels, dims=[0, 3], samples=8, seed=3,
                     reference_images=torch.rand(10, 1, 28, 28))
    page = pad._repr_mimebundle_()["text/html"]
    assert "http" not in page and 'src="/' not in page
    data = _payload(page)
    assert data["kind"] == "draw" and data["dims"] == [0, 3] and data["threshold"] == 0.5
    generator = torch.Generator().manual_seed(3)
    for name, dim in [("plane", 2), ("latent", 6)]:
        eps = np.frombuffer(base64.b64decode(data["models"][name]["eps"]), dtype="<f4").reshape(8, dim)
        assert np.array_equal(eps, torch.randn(8, dim, generator=generator).numpy())  # the seeded draws
        assert data["models"][name]["typical"]["count"] == 10
        for net in ("encoder", "decoder"):
            assert f'data-key="{data["models"][name][net]["key"]}"' in page
    left, top, right, bottom = data["map_box"]
    assert 0 < left < right < 1 and 0 < top < bottom < 1
    assert page.count('type="range"') == 2
    # score() is what the page prints, from the full-precision model
    scored = pad.score(THREE, "latent")
    assert scored["elbo"] == pytest.approx(scored["reconstruction"] - scored["kl"], abs=1e-5)
    assert torch.equal(scored["binary"], (preprocess_strokes(THREE) >= 0.5).float())


def test_explorers_offer_the_keyboard_and_a_polite_live_region():
    torch.manual_seed(4)
    plane = PlaneExplorer(VAE(2, hidden=(16,)), grid=5).web_html
    latent = LatentExplorer(VAE(3, hidden=(16,)), dims=[0, 1]).web_html
    for page in (plane, latent):
        assert page.count('aria-live="polite"') == 1 and 'role="status"' in page
        assert 'role="img" aria-label="decoded image"' in page
        assert page.count('type="range"') == 2 and 'aria-label="latent z1"' in page  # native, labelled
    # Only the plane has a map: focusable, its keys described next to it.
    map_tag = re.search(r'<div class="vaelib-explorer-map"[^>]*>', plane).group(0)
    assert 'tabindex="0"' in map_tag and 'role="application"' in map_tag and "aria-label=" in map_tag
    keys = re.search(r'aria-describedby="([^"]+)"', map_tag).group(1)
    assert f'id="{keys}"' in plane and "arrow keys" in plane
    assert '<div class="vaelib-explorer-map"' not in latent and "tabindex" not in latent


def test_drawing_pad_carries_test_digits_for_the_keyboard():
    plane, latent = _models()
    images = torch.rand(12, 1, 28, 28)
    pad = DrawingPad(plane, latent, plane_codes=torch.randn(20, 2), plane_labels=torch.arange(20) % 10,
                     samples=2, reference_images=images)
    data = _payload(pad.html)
    assert data["test_count"] == 10  # the first ten reference images, 8-bit
    digits = np.frombuffer(base64.b64decode(data["test_digits"]), dtype=np.uint8).reshape(10, 1, 28, 28)
    assert np.array_equal(digits, (images[:10] * 255).round().numpy().astype(np.uint8))
    assert torch.equal(pad.test_images, torch.from_numpy(digits.copy()))
    assert pad.html.count("<option ") == 11 and 'class="vaelib-draw-next"' in pad.html
    select = re.search(r'<select class="vaelib-draw-digit" id="([^"]+)"', pad.html).group(1)
    assert f'<label for="{select}">' in pad.html
    assert pad.html.count('aria-live="polite"') == 1  # one region for the pad, not one per model
    assert pad.html.count("<canvas ") == pad.html.count('<canvas class="vaelib-draw-') == \
        len(re.findall(r'<canvas [^>]*role="img" aria-label="[^"]+"', pad.html))
    # Without reference images there is nothing to offer: no empty select.
    bare = DrawingPad(latent_model=latent, samples=2)
    assert _payload(bare.html)["test_count"] == 0 and "<select" not in bare.html
    assert len(DrawingPad(latent_model=latent, samples=2, reference_images=images, test_digits=3).test_images) == 3


def test_drawing_pad_arguments_are_checked():
    plane, latent = _models()
    with pytest.raises(ValueError, match="a latent_model, or both"):
        DrawingPad()
    with pytest.raises(ValueError, match="2-D code"):
        DrawingPad(latent, plane_codes=torch.zeros(1, 2), plane_labels=torch.zeros(1))
    with pytest.raises(ValueError, match="plane_codes and plane_labels"):
        DrawingPad(plane)
    with pytest.raises(ValueError, match="dims must lie in 0..5"):
        DrawingPad(latent_model=latent, dims=[6])
    with pytest.raises(UnsupportedEncoder):
        DrawingPad(latent_model=VAE(2, arch="conv", hidden=(32,)))


def test_weights_move_into_script_files_once_per_key():
    plane, latent = _models()
    pad = DrawingPad(latent_model=latent, samples=2)
    explorer = LatentExplorer(latent)  # the same decoder as the pad's
    page = pad.html + explorer.web_html
    keys = re.findall(r'class="vaelib-weights" data-key="([0-9a-f]{16})">', page)
    assert len(keys) == 3 and len(set(keys)) == 2  # encoder, decoder, the decoder again
    files = {}

    def write(key, text):
        files[key] = text
        return f"../_static/vaelib-weights/{key}.js"

    small = externalize_weights(page, write)
    assert 'class="vaelib-weights"' not in small and set(files) == set(keys)
    assert small.count("<script src=") == 2
    assert len(page) - len(small) > sum(len(text) for text in files.values())  # the repeat went too
    for key, text in files.items():
        inline = re.search(rf'data-key="{key}">([A-Za-z0-9+/=]*)</script>', page).group(1)
        assert text == f'(window.vaelibWeights = window.vaelibWeights || {{}})["{key}"] = "{inline}";\n'
    assert externalize_weights(small, write) == small  # nothing left to move
