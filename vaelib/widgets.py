"""Slider explorers over a decoder's latent space (ipywidgets, wired to :mod:`vaelib.plots`).

Each explorer draws its image once when it is built, so a notebook executed without a browser
(nbval, the book build) runs the same code a reader's sliders run. Displayed, it offers two
representations: the live widget, which JupyterLab shows, and a static PNG of the same content (a
traversal grid or a decoded plane), which the rendered book shows where no kernel is running.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import numpy as np
import torch

from . import plots

__all__ = ["LatentExplorer", "PlaneExplorer", "ConditionalExplorer", "image_png"]

Decode = Callable[[torch.Tensor], torch.Tensor]


def image_png(image: torch.Tensor | np.ndarray, *, scale: int = 6) -> bytes:
    """One grey image (H, W) or (1, H, W) in [0, 1] as PNG bytes, enlarged without smoothing."""
    from PIL import Image

    arr = image.detach().cpu().float().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    arr = np.clip(arr.reshape(arr.shape[-2:]), 0.0, 1.0)  # (1, H, W) -> (H, W)
    pixels = (arr * 255).round().astype(np.uint8)
    pixels = np.kron(pixels, np.ones((scale, scale), dtype=np.uint8))  # nearest-neighbour upscale
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def _figure_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, facecolor="white")
    return buffer.getvalue()


class _Explorer:
    """Shared display logic: the widget for live frontends, a PNG for static pages."""

    widget = None
    static_png: bytes = b""

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["image/png"] = self.static_png
        bundle["text/plain"] = repr(self)
        return bundle


class LatentExplorer(_Explorer):
    """One slider per latent dimension; moving a slider redraws the decoded image.

    Args:
        decode: maps codes (M, D) to images in [0, 1] (M, 1, H, W), e.g.
            ``lambda z: torch.sigmoid(model.decode(z))``.
        latent_dim: D.
        z0: the starting code (D,); zeros (the prior's mean) by default.
        dims: the dimensions that get a slider (default: all, at most 32).
        value_range: the slider range; the prior puts 99.7% of its mass in (-3, 3).
        step: slider resolution.
        title: shown above the sliders.

    Attributes:
        widget: the ipywidgets container.
        z: the current code.
        image: the current decoded image, (1, H, W).
    """

    def __init__(self, decode: Decode, latent_dim: int, *, z0: torch.Tensor | None = None,
                 dims: Sequence[int] | None = None, value_range: tuple[float, float] = (-3.0, 3.0),
                 step: float = 0.05, title: str = "Move a slider to change one latent dimension",
                 device: str | torch.device = "cpu"):
        import ipywidgets as w

        if latent_dim < 1:
            raise ValueError(f"latent_dim must be positive, got {latent_dim}.")
        self.decode, self.device = decode, device
        self.z = (torch.zeros(latent_dim) if z0 is None else torch.as_tensor(z0).detach().cpu().reshape(-1).clone())
        if self.z.numel() != latent_dim:
            raise ValueError(f"z0 has {self.z.numel()} entries but latent_dim is {latent_dim}.")
        self.dims = list(range(min(latent_dim, 32))) if dims is None else list(dims)
        if any(not 0 <= d < latent_dim for d in self.dims):
            raise ValueError(f"dims must lie in 0..{latent_dim - 1}, got {self.dims}.")
        lo, hi = value_range
        self.sliders = [
            w.FloatSlider(value=float(self.z[d]), min=lo, max=hi, step=step, description=f"z{d + 1}",
                          continuous_update=True, readout_format=".2f",
                          layout=w.Layout(width="320px"))
            for d in self.dims
        ]
        self.picture = w.Image(format="png", layout=w.Layout(width="168px", height="168px"))
        reset = w.Button(description="reset to z0", layout=w.Layout(width="120px"))
        self._z0 = self.z.clone()
        reset.on_click(lambda _: self.set(self._z0))
        for s in self.sliders:
            s.observe(self._on_change, names="value")
        self.widget = w.VBox([w.HTML(f"<b>{title}</b>"),
                              w.HBox([self.picture, w.VBox([*self.sliders, reset])])])
        self.render()
        self.static_png = _figure_png(plots.traversal_grid(
            self._decode_cpu, self._z0, dims=self.dims[:10],
            values=np.linspace(lo, hi, 9).tolist(),
            title="What each slider does: one row per latent, from left to right"))

    def _decode_cpu(self, z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.decode(z.to(self.device)).cpu()

    def _on_change(self, _change=None) -> None:
        for d, s in zip(self.dims, self.sliders, strict=True):
            self.z[d] = s.value
        self.render()

    def set(self, z: torch.Tensor) -> None:
        """Move every slider to the code ``z`` and redraw."""
        z = torch.as_tensor(z).detach().cpu().reshape(-1)
        for d, s in zip(self.dims, self.sliders, strict=True):
            s.unobserve(self._on_change, names="value")
            s.value = float(z[d])
            s.observe(self._on_change, names="value")
        self.z = z.clone()
        self.render()

    def render(self) -> None:
        """Decode the current code and draw it (called on construction and on every change)."""
        self.image = self._decode_cpu(self.z.unsqueeze(0))[0]
        self.picture.value = image_png(self.image)

    def __repr__(self) -> str:
        return f"LatentExplorer({len(self.sliders)} sliders over a {self.z.numel()}-D code)"


class PlaneExplorer(_Explorer):
    """Move a point over a 2-D plane of the latent space and see its decoded image.

    The plane goes through ``z0`` and is spanned by the latent dimensions ``dims``; the left panel
    shows the decoded images over a grid of the plane (with the current point marked), the right
    one the image at the point.

    Args:
        decode: maps codes (M, D) to images in [0, 1].
        latent_dim: D.
        dims: the two dimensions that span the plane.
        z0: the code the plane passes through (zeros by default).
        extent: the range shown on both axes.
        grid: decoded images per axis in the map.
    """

    def __init__(self, decode: Decode, latent_dim: int, *, dims: tuple[int, int] = (0, 1),
                 z0: torch.Tensor | None = None, extent: tuple[float, float] = (-3.0, 3.0),
                 grid: int = 15, device: str | torch.device = "cpu"):
        import ipywidgets as w

        if len(dims) != 2 or len(set(dims)) != 2 or not all(0 <= d < latent_dim for d in dims):
            raise ValueError(f"dims must be two different dimensions in 0..{latent_dim - 1}, got {dims}.")
        self.decode, self.device, self.dims = decode, device, tuple(dims)
        self.z0 = torch.zeros(latent_dim) if z0 is None else torch.as_tensor(z0).detach().cpu().reshape(-1)
        self.z = self.z0.clone()
        lo, hi = extent

        def on_plane(zz: torch.Tensor) -> torch.Tensor:  # (M, 2) -> images
            codes = self.z0.repeat(zz.shape[0], 1)
            codes[:, self.dims[0]], codes[:, self.dims[1]] = zz[:, 0], zz[:, 1]
            return self._decode_cpu(codes)

        fig = plots.manifold_grid(on_plane, n=grid, extent=extent,
                                  title=f"Decoded images over the plane of z{dims[0] + 1} and z{dims[1] + 1}")
        ax = fig.axes[0]
        ax.set_xlabel(f"$z_{{{dims[0] + 1}}}$")
        ax.set_ylabel(f"$z_{{{dims[1] + 1}}}$")
        self.static_png = _figure_png(fig)
        self._marker = ax.plot([0], [0], marker="o", ms=12, mfc="none", mec="#D55E00", mew=2.5)[0]
        self._figure = fig
        self.map = w.Image(format="png", layout=w.Layout(width="360px"))
        self.picture = w.Image(format="png", layout=w.Layout(width="168px", height="168px"))
        self.sliders = [w.FloatSlider(value=float(self.z0[d]), min=lo, max=hi, step=0.05,
                                      description=f"z{d + 1}", readout_format=".2f") for d in dims]
        for s in self.sliders:
            s.observe(self._on_change, names="value")
        self.widget = w.HBox([self.map, w.VBox([self.picture, *self.sliders])])
        self.render()

    def _decode_cpu(self, z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.decode(z.to(self.device)).cpu()

    def _on_change(self, _change=None) -> None:
        self.render()

    def render(self) -> None:
        """Redraw the marker on the map and the decoded image at the current point."""
        a, b = (s.value for s in self.sliders)
        self.z[self.dims[0]], self.z[self.dims[1]] = a, b
        self._marker.set_data([a], [b])
        self.map.value = _figure_png(self._figure)
        self.image = self._decode_cpu(self.z.unsqueeze(0))[0]
        self.picture.value = image_png(self.image)

    def __repr__(self) -> str:
        return f"PlaneExplorer(plane of z{self.dims[0] + 1} and z{self.dims[1] + 1})"


class ConditionalExplorer(_Explorer):
    """A label picker and style sliders over a conditional decoder; every change redraws the digit.

    The label chooses *which* digit, the sliders move the latent code, the *style*. Keep the
    sliders still and click through the labels to see one style written as every digit.

    Args:
        decode: maps codes (M, D) and labels (M,) to images in [0, 1] (M, 1, H, W), e.g.
            ``lambda z, y: torch.sigmoid(cvae.decode(z, y))``.
        latent_dim: D.
        num_classes: how many labels the picker offers.
        label: the starting label.
        z0: the starting code (D,); zeros (the prior's mean) by default.
        dims: the dimensions that get a slider (default: all, at most 32).
        value_range: the slider range.
        title: shown above the controls.

    Attributes:
        widget: the ipywidgets container.
        z: the current code; label: the current label.
        image: the current decoded image, (1, H, W).
        static_png: the static version, :func:`vaelib.plots.same_style_grid` of a few styles.
    """

    def __init__(self, decode: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], latent_dim: int, *,
                 num_classes: int = 10, label: int = 0, z0: torch.Tensor | None = None,
                 dims: Sequence[int] | None = None, value_range: tuple[float, float] = (-3.0, 3.0),
                 step: float = 0.05, title: str = "Pick a digit, then drag the style sliders",
                 device: str | torch.device = "cpu", static_styles: torch.Tensor | None = None):
        import ipywidgets as w

        if latent_dim < 1:
            raise ValueError(f"latent_dim must be positive, got {latent_dim}.")
        if not 0 <= int(label) < num_classes:
            raise ValueError(f"label must lie in 0..{num_classes - 1}, got {label}.")
        self.decode, self.device, self.num_classes = decode, device, num_classes
        self.z = torch.zeros(latent_dim) if z0 is None else torch.as_tensor(z0).detach().cpu().reshape(-1).clone()
        if self.z.numel() != latent_dim:
            raise ValueError(f"z0 has {self.z.numel()} entries but latent_dim is {latent_dim}.")
        self.label = int(label)
        self.dims = list(range(min(latent_dim, 32))) if dims is None else list(dims)
        if any(not 0 <= d < latent_dim for d in self.dims):
            raise ValueError(f"dims must lie in 0..{latent_dim - 1}, got {self.dims}.")
        lo, hi = value_range
        self.picker = w.ToggleButtons(options=[(str(k), k) for k in range(num_classes)], value=self.label,
                                      description="digit", style={"button_width": "32px"})
        self.sliders = [
            w.FloatSlider(value=float(self.z[d]), min=lo, max=hi, step=step, description=f"z{d + 1}",
                          readout_format=".2f", layout=w.Layout(width="320px"))
            for d in self.dims
        ]
        self.picture = w.Image(format="png", layout=w.Layout(width="168px", height="168px"))
        self.picker.observe(self._on_change, names="value")
        for s in self.sliders:
            s.observe(self._on_change, names="value")
        self.widget = w.VBox([w.HTML(f"<b>{title}</b>"), self.picker,
                              w.HBox([self.picture, w.VBox(self.sliders)])])
        self.render()
        styles = self.z.unsqueeze(0) if static_styles is None else torch.as_tensor(static_styles).detach().cpu()
        self.static_png = _figure_png(plots.same_style_grid(
            lambda z, y: self._decode_cpu(z, y), styles, num_classes=num_classes,
            title="Each row keeps one style code; each column asks for another digit"))

    def _decode_cpu(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.decode(z.to(self.device), y.to(self.device)).cpu()

    def _on_change(self, _change=None) -> None:
        self.label = int(self.picker.value)
        for d, s in zip(self.dims, self.sliders, strict=True):
            self.z[d] = s.value
        self.render()

    def render(self) -> None:
        """Decode the current code with the current label and draw it."""
        self.image = self._decode_cpu(self.z.unsqueeze(0), torch.tensor([self.label]))[0]
        self.picture.value = image_png(self.image)

    def __repr__(self) -> str:
        return (f"ConditionalExplorer(label {self.label} of {self.num_classes}, "
                f"{len(self.sliders)} sliders over a {self.z.numel()}-D code)")
