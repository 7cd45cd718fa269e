"""The course's models: a deterministic autoencoder, the variational autoencoder and its conditional version.

Shared vocabulary: ``x`` images (B, C, H, W); ``z`` codes (B, latent_dim); ``mu, logvar`` the mean
and log-variance of q(z|x); ``decode`` returns *logits* (B, C, H, W), so the Bernoulli term can use
the numerically stable ``binary_cross_entropy_with_logits``; ``sigmoid(logits)`` is the image.
Each model keeps the arguments it was built with in ``config`` so a checkpoint can rebuild it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ._validation import integer, number, positive_int
from .losses import bernoulli_log_likelihood, gaussian_log_likelihood
from .nets import make_decoder, make_encoder, mlp
from .priors import StandardNormalPrior, make_prior

__all__ = ["Autoencoder", "VAE", "ConditionalVAE", "LIKELIHOODS"]

LIKELIHOODS = ("bernoulli", "gaussian")
MNIST_SHAPE = (1, 28, 28)


class Autoencoder(nn.Module):
    """A deterministic autoencoder: x -> z = encoder(x) -> logits = decoder(z).

    Args:
        latent_dim: size of the code z.
        hidden: hidden layer sizes of the encoder (the decoder mirrors them).
        image_shape: (C, H, W) of the images.
        arch: ``"mlp"`` or ``"conv"``.
        linear: no hidden layers and no non-linearity, for the comparison with PCA.
    """

    def __init__(self, latent_dim: int = 2, *, hidden: Sequence[int] = (400,),
                 image_shape: Sequence[int] = MNIST_SHAPE, arch: str = "mlp", linear: bool = False):
        super().__init__()
        latent_dim = integer("latent_dim", latent_dim, at_least=1)
        hidden = () if linear else _hidden_sizes(hidden)
        self.config = dict(latent_dim=latent_dim, hidden=list(hidden), image_shape=list(image_shape),
                           arch=arch, linear=linear)
        self.latent_dim = latent_dim
        self.image_shape = tuple(image_shape)
        self.encoder = make_encoder(arch, image_shape, hidden, latent_dim)
        self.decoder = make_decoder(arch, latent_dim, tuple(reversed(hidden)), image_shape)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> codes (B, latent_dim)."""
        _check_images(x, self.image_shape, _weights_dtype(self))
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim) -> logits (B, C, H, W)."""
        _check_codes(z, self.latent_dim)
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], shape of ``x``."""
        return torch.sigmoid(self(x))


class _WithPrior:
    """The prior p(z) of a latent-variable model, held in ``self.prior``, asked one way by all."""

    prior: nn.Module

    @property
    def has_standard_prior(self) -> bool:
        """True when p(z) = N(0, I), whose KL term has a closed form."""
        return isinstance(self.prior, StandardNormalPrior)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) in nats: codes (..., latent_dim) -> (...)."""
        return self.prior.log_prob(z)


class VAE(_WithPrior, nn.Module):
    """A variational autoencoder with a diagonal Gaussian q(z|x) and a N(0, I) (or learned) prior.

    The encoder outputs ``2 * latent_dim`` numbers per image: the mean and the log-variance of
    q(z|x). Log-variance, not variance, so the network's output needs no positivity constraint
    and tiny or huge variances are reachable without extreme weights.

    Args:
        latent_dim: size of z.
        hidden: hidden layer sizes of the encoder (the decoder mirrors them).
        image_shape: (C, H, W) of the images.
        arch: ``"mlp"`` or ``"conv"``.
        likelihood: ``"bernoulli"`` (for binary pixels) or ``"gaussian"`` (mean ``sigmoid(logits)``,
            standard deviation sigma shared by all pixels).
        sigma: the Gaussian's standard deviation, fixed, or its starting value when learned.
        learn_sigma: learn sigma by gradient descent along with the networks.
        prior: ``None`` for N(0, I), or a learned prior's spec (``"mixture"``, ``"vamp"``, or a
            dict such as ``{"kind": "mixture", "components": 10}``; see :mod:`vaelib.priors`).
    """

    def __init__(self, latent_dim: int = 20, *, hidden: Sequence[int] = (400,),
                 image_shape: Sequence[int] = MNIST_SHAPE, arch: str = "mlp",
                 likelihood: str = "bernoulli", sigma: float = 0.1, learn_sigma: bool = False,
                 prior: str | dict | None = None):
        super().__init__()
        latent_dim = integer("latent_dim", latent_dim, at_least=1)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood={likelihood!r} is unknown; use one of {LIKELIHOODS}.")
        sigma = number("sigma", sigma, above=0)
        hidden = _hidden_sizes(hidden)
        self.config = dict(latent_dim=latent_dim, hidden=list(hidden), image_shape=list(image_shape),
                           arch=arch, likelihood=likelihood, sigma=sigma, learn_sigma=learn_sigma)
        self.latent_dim = latent_dim
        self.image_shape = tuple(image_shape)
        self.likelihood = likelihood
        self.encoder = make_encoder(arch, image_shape, hidden, 2 * latent_dim)
        self.decoder = make_decoder(arch, latent_dim, tuple(reversed(hidden)), image_shape)
        log_sigma = torch.tensor(math.log(sigma))
        if learn_sigma:
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)
        # Built after the networks, so the standard prior leaves their initialisation unchanged.
        self.prior = make_prior(prior, latent_dim, image_shape=self.image_shape)
        if hasattr(self.prior, "attach"):
            self.prior.attach(self.encoder)  # the VampPrior encodes its pseudo-inputs
        if prior is not None:
            self.config["prior"] = dict(self.prior.spec)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) -> (mu, logvar), each (B, latent_dim)."""
        _check_images(x, self.image_shape, _weights_dtype(self))
        mu, logvar = self.encoder(x).chunk(2, dim=1)  # (B, 2D) -> 2 x (B, D)
        return mu, logvar

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, *, samples: int | None = None,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mu + sigma * eps with eps ~ N(0, I): a sample that gradients flow through.

        Args:
            mu, logvar: the Gaussian q(z|x), each (B, D).
            samples: ``None`` draws one z per row, (B, D); K draws K per row, (K, B, D).
            generator: the source of eps (on ``mu``'s device); ``None``: PyTorch's global one.
        """
        shape = mu.shape if samples is None else (samples, *mu.shape)
        eps = torch.randn(shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim) -> logits (B, C, H, W)."""
        _check_codes(z, self.latent_dim)
        return self.decoder(z)

    def log_likelihood(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) under this model's likelihood, from the decoder's logits.

        Bernoulli: pixel probabilities ``sigmoid(logits)``. Gaussian: mean ``sigmoid(logits)``
        (images live in [0, 1]) and standard deviation ``exp(log_sigma)``.

        Args:
            logits: decoder outputs, (B, C, H, W).
            x: the images, the same shape.

        Returns:
            Nats per example, shape (B,), summed over pixels.
        """
        if self.likelihood == "gaussian":
            _check_unit_interval(x)
            return gaussian_log_likelihood(torch.sigmoid(logits), x, self.log_sigma)
        return bernoulli_log_likelihood(logits, x)

    def forward(self, x: torch.Tensor):
        """One pass: returns ``(logits, mu, logvar, z)`` with z a reparameterized sample."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar, z

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``n`` draws from the prior p(z): mean images in [0, 1], (n, C, H, W)."""
        n = positive_int("n", n)
        return torch.sigmoid(self.decode(self.prior.sample(n, generator=generator)))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean of each image: mean images in [0, 1], shape of ``x``."""
        mu, _ = self.encode(x)
        return torch.sigmoid(self.decode(mu))


def _check_unit_interval(x: torch.Tensor) -> None:
    """The Gaussian decoder's mean is a sigmoid, in [0, 1]: images outside it are a mistake."""
    lo, hi = torch.aminmax(x.detach()) if x.numel() else (x.new_zeros(()), x.new_zeros(()))
    if not (lo >= 0 and hi <= 1):
        raise ValueError(f"The Gaussian decoder's mean is a sigmoid, in [0, 1], so x must be in [0, 1] "
                         f"too, but it ranges over [{lo.item():.4g}, {hi.item():.4g}]. Divide grey "
                         "levels 0-255 by 255, and undo any normalisation such as transforms.Normalize.")


def _weights_dtype(model: nn.Module) -> torch.dtype | None:
    """The float type a model computes in (that of its first parameter), or None without any."""
    param = next(model.parameters(), None)
    return param.dtype if param is not None else None


def _hidden_sizes(hidden: Sequence[int]) -> tuple[int, ...]:
    return tuple(integer("each hidden size", h, at_least=1) for h in hidden)


def _check_images(x: torch.Tensor, image_shape: tuple[int, ...],
                  dtype: torch.dtype | None = None) -> None:
    """Shape (B, *image_shape) and the float dtype the model computes in.

    ``dtype`` defaults to torch's default dtype, the one a model is built in; a caller that knows
    its weights' dtype (a model converted with ``.double()``) passes it.
    """
    if x.dim() != 4 or tuple(x.shape[1:]) != image_shape:
        raise ValueError(
            f"Expected images of shape (B, {', '.join(map(str, image_shape))}), got "
            f"{tuple(x.shape)}. Reshape with x.view(-1, {', '.join(map(str, image_shape))})."
        )
    expected = dtype if dtype is not None else torch.get_default_dtype()
    if not x.is_floating_point():
        raise ValueError(
            f"The images are {x.dtype}; the models take grey levels in [0, 1] as floats: convert "
            "0-255 images with x.float() / 255 (and 0/1 ones with x.float())."
        )
    if x.dtype != expected and not _autocasting(x):
        raise ValueError(
            f"The images are {x.dtype} but the model computes in {expected}: convert them with "
            + ("x.float() (torch.from_numpy keeps NumPy's float64)." if expected == torch.float32
               else f"x.to({expected}).")
        )


def _autocasting(x: torch.Tensor) -> bool:
    """Whether mixed precision is on, under which PyTorch itself casts the inputs."""
    try:
        return torch.is_autocast_enabled(x.device.type)
    except TypeError:  # PyTorch before 2.4 takes no device type
        return torch.is_autocast_enabled()


def _check_codes(z: torch.Tensor, latent_dim: int) -> None:
    if z.dim() != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"Expected codes of shape (B, {latent_dim}), got {tuple(z.shape)}.")


class ConditionalVAE(_WithPrior, nn.Module):
    """A conditional VAE (Sohn et al. 2015): the label enters the encoder and the decoder.

    The model is p(z) p(x|z, y) with q(z|x, y): the encoder sees the image *and* its label (one-hot,
    concatenated to the flattened pixels), the decoder sees the code *and* the label. Because the
    decoder is told the digit, the code z is free to carry what the label does not say: the style
    (slant, stroke width, shape). The ELBO it maximises is a bound on log p(x | y).

    Labels are class indices, an integer tensor of shape (B,) with values in 0..num_classes-1;
    the one-hot encoding happens inside.

    Args:
        latent_dim: size of z.
        num_classes: number of labels (10 for digits).
        hidden: hidden layer sizes of the encoder MLP (the decoder mirrors them).
        image_shape: (C, H, W) of the images.
    """

    def __init__(self, latent_dim: int = 20, *, num_classes: int = 10, hidden: Sequence[int] = (400,),
                 image_shape: Sequence[int] = MNIST_SHAPE):
        super().__init__()
        latent_dim = integer("latent_dim", latent_dim, at_least=1)
        num_classes = integer("num_classes", num_classes, at_least=2)
        hidden = _hidden_sizes(hidden)
        self.config = dict(latent_dim=latent_dim, num_classes=num_classes, hidden=list(hidden),
                           image_shape=list(image_shape))
        self.latent_dim = latent_dim
        self.prior = StandardNormalPrior(latent_dim)  # p(z) = N(0, I); no parameters
        self.num_classes = num_classes
        self.image_shape = tuple(image_shape)
        pixels = math.prod(self.image_shape)
        self.encoder = mlp([pixels + num_classes, *hidden, 2 * latent_dim])
        self.decoder = mlp([latent_dim + num_classes, *reversed(hidden), pixels])

    def one_hot(self, y: torch.Tensor) -> torch.Tensor:
        """Validated class indices (B,) -> one-hot float rows (B, num_classes)."""
        _check_labels(y, self.num_classes)
        return nn.functional.one_hot(y.long(), self.num_classes).float()

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, C, H, W) and labels (B,) -> (mu, logvar), each (B, latent_dim)."""
        _check_images(x, self.image_shape, _weights_dtype(self))
        _check_batch(x.shape[0], y)
        h = torch.cat([x.flatten(start_dim=1), self.one_hot(y).to(x.dtype)], dim=1)  # (B, P + K)
        mu, logvar = self.encoder(h).chunk(2, dim=1)  # (B, 2D) -> 2 x (B, D)
        return mu, logvar

    reparameterize = staticmethod(VAE.reparameterize)  # the same q(z|x, y) sampling as the VAE's

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Codes (B, latent_dim) and labels (B,) -> logits (B, C, H, W)."""
        _check_codes(z, self.latent_dim)
        _check_batch(z.shape[0], y)
        h = torch.cat([z, self.one_hot(y).to(z.dtype)], dim=1)  # (B, D + K)
        return self.decoder(h).unflatten(1, self.image_shape)  # (B, P) -> (B, C, H, W)

    def log_likelihood(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z, y) for independent Bernoulli pixels: logits and images (B, C, H, W) -> nats (B,)."""
        return bernoulli_log_likelihood(logits, x)

    def forward(self, x: torch.Tensor, y: torch.Tensor):
        """One pass: returns ``(logits, mu, logvar, z)`` with z a reparameterized sample."""
        mu, logvar = self.encode(x, y)
        z = self.reparameterize(mu, logvar)
        return self.decode(z, y), mu, logvar, z

    @torch.no_grad()
    def sample(self, labels: torch.Tensor | Sequence[int], *,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """One image per label: decode z ~ N(0, I) with that label. Mean images in [0, 1], (B, C, H, W)."""
        device = next(self.parameters()).device
        y = torch.as_tensor(labels, device=device)
        if y.dim() != 1 or y.numel() == 0:
            raise ValueError(f"labels must be a non-empty 1-D list of class indices, got shape {tuple(y.shape)}.")
        z = torch.randn(y.numel(), self.latent_dim, generator=generator,
                        device="cpu" if generator is not None else device).to(device)
        return torch.sigmoid(self.decode(z, y))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean of each (image, label): mean images in [0, 1], shape of ``x``."""
        mu, _ = self.encode(x, y)
        return torch.sigmoid(self.decode(mu, y))

    @torch.no_grad()
    def swap_labels(self, x: torch.Tensor, y: torch.Tensor, new_y: torch.Tensor) -> torch.Tensor:
        """Same style, other digit: encode (x, y), decode the posterior mean with ``new_y``.

        Returns mean images in [0, 1], shape of ``x``.
        """
        mu, _ = self.encode(x, y)
        return torch.sigmoid(self.decode(mu, new_y))


def _check_labels(y: torch.Tensor, num_classes: int) -> None:
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"labels must be a tensor of class indices, got {type(y).__name__}; "
                        "use torch.as_tensor(labels).")
    if y.dtype.is_floating_point or y.dtype == torch.bool or y.is_complex():
        raise TypeError(f"labels must be integer class indices (int64), got dtype {y.dtype}; "
                        "pass y.long(), not one-hot rows or probabilities.")
    if y.dim() != 1:
        raise ValueError(f"labels must have shape (B,), got {tuple(y.shape)}; one-hot rows are made inside.")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got values from {int(y.min())} "
                         f"to {int(y.max())}.")


def _check_batch(n: int, y: torch.Tensor) -> None:
    if isinstance(y, torch.Tensor) and y.dim() == 1 and y.shape[0] != n:
        raise ValueError(f"{n} images or codes but {y.shape[0]} labels; give one label per row.")
