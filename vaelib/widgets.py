"""Slider explorers over a decoder's latent space (ipywidgets, wired to :mod:`vaelib.plots`).

Each explorer draws its image once when it is built, so a notebook executed without a browser
(nbval, the book build) runs the same code a reader's sliders run. Displayed, it offers up to three
representations: the live widget, which JupyterLab shows; when it was given a vaelib model with an
MLP decoder, a kernel-free HTML explorer that decodes in the reader's browser
(:mod:`vaelib.web_explorer`), which the rendered book shows; and a static PNG of the same content
(a traversal grid or a decoded plane) for every other frontend.

The live widget shows what the book's explorer shows: the figure under the sliders (the traversal
grid, the same-style grid) and, for a plane, a map that answers a click (:class:`ClickableImage`).
A widget needs its kernel; JupyterLab shows it again after a reopen only from the widget state
saved in the notebook, which ``tools/lab.py`` switches on for the learner's JupyterLab.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence

import anywidget
import numpy as np
import torch
import traitlets
from torch import nn

from . import plots, web_explorer
from ._validation import index, indices, integer
from .figures import check_alt

__all__ = ["LatentExplorer", "PlaneExplorer", "ConditionalExplorer", "ClickableImage", "image_png"]

Decode = Callable[[torch.Tensor], torch.Tensor]
Source = Decode | nn.Module


def _resolve(source, latent_dim: int | None, device, *, conditional: bool):
    """A model or a decode function -> (decode on images in [0, 1], latent_dim, device, model or None).

    A vaelib model is decoded as ``sigmoid(model.decode(...))`` on its own device, and its decoder
    can go into the page; a plain function is used as it is and needs ``latent_dim``.
    """
    if isinstance(source, nn.Module):
        if not hasattr(source, "decode") or not hasattr(source, "latent_dim"):
            raise TypeError(f"{type(source).__name__} has no decode() and latent_dim; pass a vaelib "
                            "model or a function that maps codes to images in [0, 1].")
        if conditional != hasattr(source, "num_classes"):
            wanted = "ConditionalExplorer" if hasattr(source, "num_classes") else "LatentExplorer or PlaneExplorer"
            raise TypeError(f"{type(source).__name__} needs a {wanted}.")
        if latent_dim is not None and latent_dim != source.latent_dim:
            raise ValueError(f"latent_dim={latent_dim} but the model's latent_dim is {source.latent_dim}.")
        model = source
        model_device = next(model.parameters()).device

        def decode(*args):
            with torch.no_grad():
                return torch.sigmoid(model.decode(*(a.to(model_device) for a in args)))

        return decode, model.latent_dim, model_device, model
    if not callable(source):
        raise TypeError(f"Pass a vaelib model or a decode function, not {type(source).__name__}.")
    if latent_dim is None:
        raise ValueError("latent_dim is needed when the explorer is given a function instead of a model.")
    return source, integer("latent_dim", latent_dim, at_least=1), (device or "cpu"), None


def _web_export(model):
    """The decoder for the page, or None when it cannot run there (then the book shows the PNG)."""
    if model is None:
        return None
    try:
        return web_explorer.export_decoder(model)
    except web_explorer.UnsupportedDecoder:
        return None


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
    """The figure as PNG; stored as 8-bit grey when it has no colour (half the size or less)."""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, facecolor="white")
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGBA")
    rgba = np.asarray(image)
    if (rgba[..., 3] == 255).all() and (rgba[..., 0] == rgba[..., 1]).all() and (rgba[..., 1] == rgba[..., 2]).all():
        buffer = io.BytesIO()
        image.convert("L").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


class ClickableImage(anywidget.AnyWidget):
    """A PNG that reports where it was clicked and marks a point (ipywidgets' Image does neither).

    Attributes:
        png: the image, PNG bytes encoded as base64 text.
        width: its CSS width (the height follows the image's aspect ratio).
        marker: ``[fx, fy]``, where to draw a circle, as fractions of the image's width and height
            from its top-left corner; ``[]`` for none.
        click: after a click, ``[fx, fy, n]``: the click's position in the same fractions, and a
            counter, so that two clicks on the same spot are two changes.
    """

    # A few lines of JavaScript that JupyterLab (and any other anywidget frontend) runs in the page;
    # the marker is drawn there, so a move costs no new PNG.
    _esm = """
    function render({ model, el }) {
      const box = document.createElement("div");
      box.style.position = "relative";
      box.style.display = "inline-block";
      const img = document.createElement("img");
      img.className = "vaelib-clickable-image";
      img.style.cursor = "crosshair";
      img.style.display = "block";
      img.alt = "map: click to move the point";
      const marker = document.createElement("div");
      marker.className = "vaelib-clickable-marker";
      Object.assign(marker.style, { position: "absolute", width: "16px", height: "16px", margin: "-8px 0 0 -8px",
        border: "3px solid #D55E00", borderRadius: "50%", boxSizing: "border-box", pointerEvents: "none" });
      const draw = () => {
        img.src = "data:image/png;base64," + model.get("png");
        img.style.width = model.get("width");
      };
      const place = () => {
        const point = model.get("marker");
        marker.style.display = point.length === 2 ? "block" : "none";
        if (point.length === 2) {
          marker.style.left = `${100 * point[0]}%`;
          marker.style.top = `${100 * point[1]}%`;
        }
      };
      draw();
      place();
      model.on("change:png", draw);
      model.on("change:width", draw);
      model.on("change:marker", place);
      img.addEventListener("click", (event) => {
        const rect = img.getBoundingClientRect();
        const count = (model.get("click")[2] || 0) + 1;
        model.set("click", [(event.clientX - rect.left) / rect.width, (event.clientY - rect.top) / rect.height, count]);
        model.save_changes();
      });
      box.append(img, marker);
      el.appendChild(box);
    }
    export default { render };
    """
    png = traitlets.Unicode("").tag(sync=True)
    width = traitlets.Unicode("360px").tag(sync=True)
    marker = traitlets.List([]).tag(sync=True)
    click = traitlets.List([]).tag(sync=True)

    def set_png(self, png: bytes) -> None:
        """Show new PNG bytes."""
        self.png = base64.b64encode(png).decode("ascii")


def _figure_widget(png: bytes, caption: str):
    """The static figure under a live explorer's sliders, with its caption."""
    import ipywidgets as w

    return w.VBox([w.Image(value=png, format="png", layout=w.Layout(max_width="100%", width="auto")),
                   w.HTML(f"<i>{caption}</i>")])


class _Explorer:
    """Shared display logic: the widget for live frontends, a PNG for static pages.

    The PNG carries a text alternative, :attr:`alt` (what the static figure shows), in the output's
    metadata, where the book's builder takes it for the image's alt text.
    """

    widget = None
    static_png: bytes = b""
    alt: str = ""  # the static figure's description (plots.described's rules)
    web_html: str | None = None  # the kernel-free explorer, when the decoder can run in a page

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        if self.web_html:
            bundle["text/html"] = self.web_html
        bundle["image/png"] = self.static_png
        bundle["text/plain"] = repr(self)
        return bundle

    def _ipython_display_(self) -> None:
        """Display the bundle with the PNG's alt text in the output's metadata."""
        from IPython.display import display

        display(self._repr_mimebundle_(), metadata={"image/png": {"alt": self.alt}}, raw=True)


class LatentExplorer(_Explorer):
    """One slider per latent dimension; moving a slider redraws the decoded image.

    Args:
        source: a vaelib model (``VAE``, ``Autoencoder``): it is decoded as
            ``sigmoid(model.decode(z))``, and an MLP decoder also goes into the rendered page, where
            the sliders then work without a kernel. Or any function that maps codes (M, D) to images
            in [0, 1] (M, 1, H, W), for the live widget only.
        latent_dim: D; read from the model when a model is given.
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

    def __init__(self, source: Source, latent_dim: int | None = None, *, z0: torch.Tensor | None = None,
                 dims: Sequence[int] | None = None, value_range: tuple[float, float] = (-3.0, 3.0),
                 step: float = 0.05, title: str = "Move a slider to change one latent dimension",
                 device: str | torch.device | None = None):
        import ipywidgets as w

        decode, latent_dim, device, model = _resolve(source, latent_dim, device, conditional=False)
        self.decode, self.device = decode, device
        self.z = (torch.zeros(latent_dim) if z0 is None else torch.as_tensor(z0).detach().cpu().reshape(-1).clone())
        if self.z.numel() != latent_dim:
            raise ValueError(f"z0 has {self.z.numel()} entries but latent_dim is {latent_dim}.")
        self.dims = list(range(min(latent_dim, 32))) if dims is None else indices("dims", dims, latent_dim)
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
        self.render()
        self.static_png = _figure_png(plots.traversal_grid(
            self._decode_cpu, self._z0, dims=self.dims[:10],
            values=np.linspace(lo, hi, 9).tolist(),
            title="What each slider does: one row per latent, from left to right"))
        rows = self.dims[:10]
        self.alt = check_alt(
            f"What the sliders do, as a figure: {len(rows)} rows, one per latent dimension "
            f"({', '.join(f'z{d + 1}' for d in rows)}), each decoded at 9 values from {lo:g} to {hi:g} "
            "while the rest of the code stays at the starting code; a row whose images barely change "
            "is a dimension the decoder does not use.")
        caption = f"The same sliders as a figure: each row moves one latent from {lo:g} to {hi:g}."
        self.widget = w.VBox([w.HTML(f"<b>{title}</b>"),
                              w.HBox([self.picture, w.VBox([*self.sliders, reset])]),
                              _figure_widget(self.static_png, caption)])
        export = _web_export(model)
        if export is not None:
            self.web_html = web_explorer.explorer_html(
                export, kind="latent", title=title, z0=self._z0, dims=self.dims, value_range=value_range,
                step=step, reference=self.image, figure_png=self.static_png, figure_caption=caption)

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
        source: a vaelib model (its MLP decoder also runs in the rendered page, where clicking the
            map or moving the sliders then works without a kernel) or a function that maps codes
            (M, D) to images in [0, 1].
        latent_dim: D; read from the model when a model is given.
        dims: the two dimensions that span the plane.
        z0: the code the plane passes through (zeros by default).
        extent: the range shown on both axes.
        grid: decoded images per axis in the map.
    """

    def __init__(self, source: Source, latent_dim: int | None = None, *, dims: tuple[int, int] = (0, 1),
                 z0: torch.Tensor | None = None, extent: tuple[float, float] = (-3.0, 3.0),
                 grid: int = 15, device: str | torch.device | None = None):
        import ipywidgets as w

        decode, latent_dim, device, model = _resolve(source, latent_dim, device, conditional=False)
        dims = indices("dims", dims, latent_dim)
        if len(dims) != 2 or dims[0] == dims[1]:
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
        self.alt = check_alt(
            f"A map of the plane of z{dims[0] + 1} and z{dims[1] + 1}: a {grid} by {grid} mosaic of the "
            f"images decoded from codes between {lo:g} and {hi:g} on both axes, the rest of the code "
            "fixed; neighbouring images show how the decoded digit changes across the plane.")
        # Where the plot area's corners (lo, hi) and (hi, lo) fall in the saved PNG, as fractions
        # (left, top, right, bottom) of its size, so a click on the map becomes a code again.
        width, height = fig.bbox.width, fig.bbox.height
        (x0, y0), (x1, y1) = ax.transData.transform([(lo, hi), (hi, lo)])
        box = (x0 / width, 1 - y0 / height, x1 / width, 1 - y1 / height)
        self.plane_box, self.extent = box, (lo, hi)
        self.map = ClickableImage(width="360px")
        self.map.set_png(self.static_png)  # drawn once; the page moves the marker over it
        self.map.observe(self._on_click, names="click")
        self.picture = w.Image(format="png", layout=w.Layout(width="168px", height="168px"))
        self.sliders = [w.FloatSlider(value=float(self.z0[d]), min=lo, max=hi, step=0.05,
                                      description=f"z{d + 1}", readout_format=".2f") for d in dims]
        for s in self.sliders:
            s.observe(self._on_change, names="value")
        self.widget = w.VBox([w.HTML(f"<b>Click the map or drag the sliders: the plane of z{dims[0] + 1} "
                                     f"and z{dims[1] + 1}</b>"),
                              w.HBox([self.map, w.VBox([self.picture, *self.sliders])])])
        self.render()
        export = _web_export(model)
        if export is not None:
            self.web_html = web_explorer.explorer_html(
                export, kind="plane", title=f"Click the map or drag the sliders: the plane of z{dims[0] + 1} and z{dims[1] + 1}",
                z0=self.z0, dims=list(self.dims), value_range=extent, step=0.05, reference=self.image,
                figure_png=self.static_png, figure_caption="Decoded images over the plane; the circle is the current code.",
                plane_box=box)

    def _decode_cpu(self, z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.decode(z.to(self.device)).cpu()

    def _on_change(self, _change=None) -> None:
        self.render()

    def _on_click(self, change) -> None:
        if len(change["new"]) >= 2:
            self.click(*change["new"][:2])

    def click(self, fx: float, fy: float) -> None:
        """Move the point to where the map was clicked and redraw.

        Args:
            fx, fy: the click's position as fractions of the map image's width and height from its
                top-left corner; a click beside the plot area goes to its nearest edge.
        """
        left, top, right, bottom = self.plane_box
        lo, hi = self.extent
        a = lo + (fx - left) / (right - left) * (hi - lo)
        b = lo + (bottom - fy) / (bottom - top) * (hi - lo)
        values = [min(hi, max(lo, v)) for v in (a, b)]
        for s, v in zip(self.sliders, values, strict=True):
            s.unobserve(self._on_change, names="value")  # one redraw for both sliders
            s.value = round(v / s.step) * s.step
            s.observe(self._on_change, names="value")
        self.render()

    def render(self) -> None:
        """Move the marker on the map and redraw the decoded image at the current point."""
        a, b = (s.value for s in self.sliders)
        self.z[self.dims[0]], self.z[self.dims[1]] = a, b
        left, top, right, bottom = self.plane_box
        lo, hi = self.extent
        self.map.marker = [left + (a - lo) / (hi - lo) * (right - left),
                           bottom - (b - lo) / (hi - lo) * (bottom - top)]
        self.image = self._decode_cpu(self.z.unsqueeze(0))[0]
        self.picture.value = image_png(self.image)

    def __repr__(self) -> str:
        return f"PlaneExplorer(plane of z{self.dims[0] + 1} and z{self.dims[1] + 1})"


class ConditionalExplorer(_Explorer):
    """A label picker and style sliders over a conditional decoder; every change redraws the digit.

    The label chooses *which* digit, the sliders move the latent code, the *style*. Keep the
    sliders still and click through the labels to see one style written as every digit.

    Args:
        source: a :class:`~vaelib.models.ConditionalVAE` (its decoder also runs in the rendered
            page, where the buttons and sliders then work without a kernel) or a function that maps
            codes (M, D) and labels (M,) to images in [0, 1] (M, 1, H, W).
        latent_dim: D; read from the model when a model is given.
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

    def __init__(self, source: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | nn.Module,
                 latent_dim: int | None = None, *, num_classes: int | None = None, label: int = 0,
                 z0: torch.Tensor | None = None,
                 dims: Sequence[int] | None = None, value_range: tuple[float, float] = (-3.0, 3.0),
                 step: float = 0.05, title: str = "Pick a digit, then drag the style sliders",
                 device: str | torch.device | None = None, static_styles: torch.Tensor | None = None):
        import ipywidgets as w

        decode, latent_dim, device, model = _resolve(source, latent_dim, device, conditional=True)
        model_classes = getattr(model, "num_classes", None)
        if num_classes is not None and model_classes is not None and num_classes != model_classes:
            raise ValueError(f"num_classes={num_classes} but the model has {model_classes} classes.")
        num_classes = integer("num_classes", num_classes if num_classes is not None else model_classes or 10,
                              at_least=2)
        label = index("label", label, num_classes)
        self.decode, self.device, self.num_classes = decode, device, num_classes
        self.z = torch.zeros(latent_dim) if z0 is None else torch.as_tensor(z0).detach().cpu().reshape(-1).clone()
        if self.z.numel() != latent_dim:
            raise ValueError(f"z0 has {self.z.numel()} entries but latent_dim is {latent_dim}.")
        self.label = label
        self.dims = list(range(min(latent_dim, 32))) if dims is None else indices("dims", dims, latent_dim)
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
        self.render()
        styles = self.z.unsqueeze(0) if static_styles is None else torch.as_tensor(static_styles).detach().cpu()
        self.static_png = _figure_png(plots.same_style_grid(
            lambda z, y: self._decode_cpu(z, y), styles, num_classes=num_classes,
            title="Each row keeps one style code; each column asks for another digit"))
        caption = "The same idea as a figure: each row keeps one style code, each column asks for another digit."
        self.alt = check_alt(
            f"A grid of {len(styles)} rows and {num_classes} columns: each row keeps one style code and "
            f"each column asks the decoder for another label, 0 to {num_classes - 1}; along a row the "
            "handwriting should stay the same while the digit changes.")
        self.widget = w.VBox([w.HTML(f"<b>{title}</b>"), self.picker,
                              w.HBox([self.picture, w.VBox(self.sliders)]),
                              _figure_widget(self.static_png, caption)])
        export = _web_export(model)
        if export is not None:
            self.web_html = web_explorer.explorer_html(
                export, kind="conditional", title=title, z0=self.z, dims=self.dims, value_range=value_range,
                step=step, reference=self.image, label=self.label, figure_png=self.static_png,
                figure_caption=caption)

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
