from __future__ import annotations

import pytest
import torch

from vaelib.models import VAE, Autoencoder, ConditionalVAE
from vaelib.nets import ConvDecoder, ConvEncoder, mlp


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_autoencoder_shapes(arch):
    ae = Autoencoder(3, hidden=(32,), arch=arch)
    x = torch.rand(5, 1, 28, 28)
    assert ae.encode(x).shape == (5, 3)
    assert ae(x).shape == (5, 1, 28, 28)
    r = ae.reconstruct(x)
    assert r.shape == x.shape and float(r.min()) >= 0 and float(r.max()) <= 1


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_vae_shapes_and_interface(arch):
    vae = VAE(4, hidden=(32,), arch=arch)
    x = torch.rand(6, 1, 28, 28)
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (6, 4)
    logits, mu2, logvar2, z = vae(x)
    assert logits.shape == x.shape and z.shape == (6, 4)
    assert vae.sample(3).shape == (3, 1, 28, 28)
    assert vae.reconstruct(x).shape == x.shape


def test_linear_autoencoder_has_no_hidden_layer():
    ae = Autoencoder(10, linear=True)
    linears = [m for m in ae.modules() if isinstance(m, torch.nn.Linear)]
    assert [tuple(m.weight.shape) for m in linears] == [(10, 784), (784, 10)]
    assert not any(isinstance(m, torch.nn.ReLU) for m in ae.modules())


def test_gradients_flow_through_reparameterize():
    vae = VAE(2, hidden=(8,))
    mu = torch.zeros(5, 2, requires_grad=True)
    logvar = torch.zeros(5, 2, requires_grad=True)
    z = vae.reparameterize(mu, logvar)
    z.pow(2).sum().backward()
    assert mu.grad is not None and logvar.grad is not None
    assert float(logvar.grad.abs().sum()) > 0


def test_reparameterize_has_the_right_distribution():
    vae = VAE(2, hidden=(8,))
    mu = torch.tensor([[1.0, -2.0]]).expand(200_000, 2)
    logvar = torch.log(torch.tensor([[0.25, 4.0]])).expand(200_000, 2)
    z = vae.reparameterize(mu, logvar)
    assert torch.allclose(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.02)
    assert torch.allclose(z.std(0), torch.tensor([0.5, 2.0]), atol=0.02)


def test_reparameterize_draws_k_samples_from_a_generator_or_the_global_stream():
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    z = VAE.reparameterize(mu, logvar, samples=5, generator=torch.Generator().manual_seed(2))
    again = VAE.reparameterize(mu, logvar, samples=5, generator=torch.Generator().manual_seed(2))
    assert z.shape == (5, 4, 3) and torch.equal(z, again)
    eps = torch.randn(5, 4, 3, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(z, mu + torch.exp(0.5 * logvar) * eps)
    # Without a generator: the global stream, as torch.randn_like would draw it.
    torch.manual_seed(7)
    one = VAE.reparameterize(mu, logvar)
    torch.manual_seed(7)
    assert torch.equal(one, mu + torch.exp(0.5 * logvar) * torch.randn_like(mu))
    assert ConditionalVAE.reparameterize is VAE.reparameterize


def test_sample_is_repeatable_with_a_generator():
    vae = VAE(3, hidden=(8,))
    a = vae.sample(4, generator=torch.Generator().manual_seed(5))
    b = vae.sample(4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_gaussian_decoder_with_learned_sigma_has_a_parameter():
    fixed = VAE(2, hidden=(8,), likelihood="gaussian", sigma=0.5)
    learned = VAE(2, hidden=(8,), likelihood="gaussian", sigma=0.5, learn_sigma=True)
    assert "log_sigma" not in dict(fixed.named_parameters())
    assert "log_sigma" in dict(learned.named_parameters())
    assert torch.isclose(fixed.log_sigma, torch.log(torch.tensor(0.5)))


@pytest.mark.parametrize("kwargs,message", [
    ({"latent_dim": 0}, "latent_dim must be a positive integer"),
    ({"likelihood": "poisson"}, "likelihood='poisson' is unknown"),
    ({"arch": "transformer"}, "arch='transformer' is unknown"),
    ({"sigma": 0.0, "likelihood": "gaussian"}, "sigma must be a positive number"),
])
def test_bad_constructor_arguments(kwargs, message):
    kwargs = {"latent_dim": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        VAE(**kwargs)


def test_wrong_input_shape_says_how_to_fix():
    vae = VAE(2, hidden=(8,))
    with pytest.raises(ValueError, match=r"Expected images of shape \(B, 1, 28, 28\).*view"):
        vae.encode(torch.rand(4, 784))
    with pytest.raises(ValueError, match=r"Expected codes of shape \(B, 2\)"):
        vae.decode(torch.rand(4, 3))


def test_conv_needs_divisible_sizes():
    with pytest.raises(ValueError, match="divisible by 4"):
        ConvEncoder((1, 30, 30), (16,), 4)
    assert ConvDecoder(4, (16,), (1, 64, 64), channels=(8, 8, 16, 16))(torch.zeros(2, 4)).shape == (2, 1, 64, 64)


def test_mlp_sizes():
    net = mlp([5, 7, 3])
    assert net(torch.zeros(2, 5)).shape == (2, 3)
    with pytest.raises(ValueError):
        mlp([5])
