"""Figures for the chapters: tensors in, a matplotlib ``Figure`` out.

Every figure of the course is drawn inside :func:`figure`, in the course style, and shown
through :func:`described`, which gives it its text alternative, written next to the code that draws
it with the numbers of the run::

    with plots.figure(5.5, 3.4) as (fig, ax):
        ax.plot(steps, loss)
        ax.set_title("What to see")
    plots.described(fig, f"Training loss against the step: it falls from {loss[0]:.0f} to "
                         f"{loss[-1]:.0f} nats and flattens after step 1,000.")

The style and the text alternatives live in :mod:`vaelib.figures` and are exported here as well;
this module adds the kinds of figures the chapters draw (image grids, training curves, latent
scatters, decoded planes and traversals, ROC curves).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib as mpl
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Circle

# The style layer (vaelib.figures), exported here too: a chapter draws with `plots` alone.
from .figures import (
    DIGIT_COLOURS,
    LINE_COLOURS,
    REFERENCE_GREY,
    STYLE,
    DescribedFigure,
    contrast_ratio,
    described,
    figure,
)

__all__ = [
    "DIGIT_COLOURS",
    "LINE_COLOURS",
    "REFERENCE_GREY",
    "STYLE",
    "DescribedFigure",
    "contrast_ratio",
    "described",
    "figure",
    "image_grid",
    "reconstructions",
    "training_curves",
    "latent_scatter",
    "manifold_grid",
    "interpolation",
    "traversal_grid",
    "same_style_grid",
    "roc_curves",
    "samples_over_data",
]


def _as_images(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N, 1, H, W) or (N, H, W) tensors -> (N, H, W) numpy array in [0, 1]."""
    arr = x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if arr.ndim == 4:
        if arr.shape[1] != 1:
            raise ValueError(f"Expected single-channel images (N, 1, H, W), got {arr.shape}.")
        arr = arr[:, 0]  # (N, 1, H, W) -> (N, H, W)
    if arr.ndim != 3:
        raise ValueError(f"Expected images of shape (N, 1, H, W) or (N, H, W), got {arr.shape}.")
    return np.clip(arr, 0.0, 1.0)


def _tile(images: np.ndarray, ncols: int, pad: int = 1) -> np.ndarray:
    """(N, H, W) -> one (rows*(H+pad), cols*(W+pad)) mosaic with thin grey separators."""
    n, h, w = images.shape
    nrows = -(-n // ncols)
    canvas = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad), 0.5)
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = img
    return canvas


def image_grid(images: torch.Tensor, *, ncols: int = 10, title: str = "",
               row_labels: Sequence[str] | None = None, scale: float = 0.6) -> Figure:
    """Show images as one mosaic.

    Args:
        images: (N, 1, H, W) or (N, H, W), values in [0, 1].
        ncols: images per row.
        title: what the reader should see.
        row_labels: optional text to the left of each row.
        scale: inches per image.
    """
    imgs = _as_images(images)
    nrows = -(-len(imgs) // ncols)
    width = max(3.0, scale * ncols + (1.0 if row_labels else 0.0))
    with figure(width, scale * nrows + 0.5) as (fig, ax):
        mosaic = _tile(imgs, ncols)
        ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        if row_labels:
            h = imgs.shape[1] + 1
            ax.set_yticks([1 + h * i + h / 2 for i in range(len(row_labels))], list(row_labels))
            ax.tick_params(axis="y", length=0)
        else:
            ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(False)
        if title:
            ax.set_title(title)
    return fig


def reconstructions(x: torch.Tensor, x_hat: torch.Tensor, *, n: int = 10, title: str = "",
                    labels: Sequence[str] = ("input", "reconstruction")) -> Figure:
    """Inputs in the top row, their reconstructions below.

    Args:
        x: inputs, (N, 1, H, W).
        x_hat: reconstructions in [0, 1], the same shape (or a list of such tensors, one row each).
        n: how many columns.
    """
    rows = [x[:n]] + (list(x_hat) if isinstance(x_hat, (list, tuple)) else [x_hat])
    rows = [r[:n] for r in rows]
    if isinstance(x_hat, (list, tuple)) and len(labels) != len(rows):
        raise ValueError(f"Give one label per row: {len(rows)} rows, {len(labels)} labels.")
    stacked = torch.cat([torch.as_tensor(r).detach().cpu().float() for r in rows])
    return image_grid(stacked, ncols=n, title=title or "Inputs and their reconstructions",
                      row_labels=list(labels))


def _smooth(values: Sequence[float], window: int) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if window <= 1 or len(v) < window:
        return v
    kernel = np.ones(window) / window
    head = np.cumsum(v[: window - 1]) / np.arange(1, window)  # partial means at the start
    return np.concatenate([head, np.convolve(v, kernel, mode="valid")])


def training_curves(history, *, keys: Sequence[str] = ("loss",), eval_keys: Sequence[str] = (),
                    title: str = "Training", smooth: int = 50, ylabel: str = "nats per example",
                    separate: bool = False) -> Figure:
    """Per-step training terms (smoothed) and periodic evaluations against the step.

    Args:
        history: a :class:`vaelib.train.History`.
        keys: training terms to draw, e.g. ``("reconstruction", "kl")``.
        eval_keys: evaluated terms to draw as markers, e.g. ``("test_elbo",)``.
        smooth: moving-average window over steps.
        separate: one panel per key (for terms of very different sizes).
    """
    panels = len(keys) if separate else 1
    with figure(4.2 * panels if separate else 6.0, 3.4, ncols=panels, squeeze=False) as (fig, grid):
        axes = grid[0]
        for i, key in enumerate(keys):
            if key not in history.train:
                raise KeyError(f"History has no training term {key!r}; it has {sorted(history.train)}.")
            ax = axes[i if separate else 0]
            colour = LINE_COLOURS[i % len(LINE_COLOURS)]
            ax.plot(history.steps, history.train[key], color=colour, alpha=0.2, lw=0.8)
            ax.plot(history.steps, _smooth(history.train[key], smooth), color=colour, lw=1.8,
                    label=f"{key} (train, {smooth}-step mean)")
            if separate:
                ax.set_title(key)
        for j, key in enumerate(eval_keys):
            steps, values = history.eval_series(key)
            ax = axes[min(j, panels - 1)] if separate else axes[0]
            ax.plot(steps, values, "o--", color=LINE_COLOURS[(len(keys) + j) % len(LINE_COLOURS)],
                    label=f"{key} (evaluation)")
        for ax in axes:
            ax.set_xlabel("optimizer step")
            ax.set_ylabel(ylabel)
            ax.legend(frameon=False, fontsize=8)
            ax.grid(alpha=0.3)
        fig.suptitle(title)
    return fig


def latent_scatter(z: torch.Tensor, labels: torch.Tensor, *, title: str = "",
                   max_points: int = 5000, ax_labels: tuple[str, str] = ("$z_1$", "$z_2$")) -> Figure:
    """2-D codes as points coloured by class (digit).

    Args:
        z: (N, 2) codes.
        labels: (N,) integer classes 0-9.
    """
    z = torch.as_tensor(z).detach().cpu().float()
    if z.dim() != 2 or z.shape[1] != 2:
        raise ValueError(f"latent_scatter draws 2-D codes (N, 2); got {tuple(z.shape)}. "
                         "Project higher-dimensional codes first (e.g. PCA).")
    y = torch.as_tensor(labels).detach().cpu().numpy()
    z = z[:max_points].numpy()
    y = y[:max_points]
    with figure(5.6, 4.8) as (fig, ax):
        cmap = ListedColormap(DIGIT_COLOURS)
        points = ax.scatter(z[:, 0], z[:, 1], c=y, cmap=cmap, vmin=-0.5, vmax=9.5, s=6, alpha=0.8,
                            linewidths=0)
        cbar = fig.colorbar(points, ax=ax, ticks=range(10))
        cbar.set_label("digit")
        ax.set_xlabel(ax_labels[0])
        ax.set_ylabel(ax_labels[1])
        ax.set_title(title or "Codes of test images, coloured by digit")
        ax.set_aspect("equal", adjustable="datalim")
    return fig


def manifold_grid(decode: Callable[[torch.Tensor], torch.Tensor], *, n: int = 15,
                  extent: tuple[float, float] = (-2.5, 2.5), title: str = "",
                  points: torch.Tensor | None = None, device: str | torch.device = "cpu") -> Figure:
    """Decode an n x n grid of 2-D codes and show the images in place.

    Args:
        decode: maps codes (M, 2) to images in [0, 1] (M, 1, H, W).
        n: grid points per axis.
        extent: the range covered on both axes.
        points: optional (M, 2) codes to draw on top (e.g. encoded test images).
    """
    lo, hi = extent
    axis = torch.linspace(lo, hi, n)
    # Row 0 of the mosaic is the top of the plot, so z_2 runs from hi down to lo.
    zz = torch.stack(torch.meshgrid(axis, axis.flip(0), indexing="xy"), dim=-1).reshape(-1, 2)
    with torch.no_grad():
        imgs = _as_images(decode(zz.to(device)))
    mosaic = _tile(imgs, n, pad=0)
    with figure(6.0, 6.0) as (fig, ax):
        step = (hi - lo) / (n - 1)
        ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1,
                  extent=(lo - step / 2, hi + step / 2, lo - step / 2, hi + step / 2))
        if points is not None:
            p = torch.as_tensor(points).detach().cpu().numpy()
            ax.scatter(p[:, 0], p[:, 1], s=3, c=LINE_COLOURS[1], alpha=0.5, linewidths=0)
        ax.set_xlabel("$z_1$")
        ax.set_ylabel("$z_2$")
        ax.set_title(title or "Decoded images over a grid of codes")
    return fig


def interpolation(images: torch.Tensor, *, title: str = "", row_labels: Sequence[str] | None = None,
                  ncols: int | None = None) -> Figure:
    """Show one or more interpolation paths (each row: start, ..., end).

    Args:
        images: (rows * steps, 1, H, W) in row-major order.
        ncols: steps per row (default: all images in one row).
    """
    imgs = _as_images(images)
    return image_grid(torch.from_numpy(imgs), ncols=ncols or len(imgs),
                      title=title or "Decoding codes along a straight line", row_labels=row_labels)


def traversal_grid(decode: Callable[[torch.Tensor], torch.Tensor], z0: torch.Tensor, *,
                   dims: Sequence[int] | None = None, values: Sequence[float] = tuple(np.linspace(-2.5, 2.5, 9)),
                   title: str = "", dim_names: Sequence[str] | None = None) -> Figure:
    """Vary one latent dimension at a time around ``z0``: one row per dimension.

    This is the static version of the slider explorer: each row shows what one slider does.

    Args:
        decode: maps codes (M, D) to images in [0, 1].
        z0: the base code, (D,).
        dims: which dimensions get a row (default: all).
        values: the values each dimension takes, left to right.
    """
    z0 = torch.as_tensor(z0).detach().reshape(-1)
    dims = list(range(z0.numel())) if dims is None else list(dims)
    vals = torch.as_tensor(list(values), dtype=z0.dtype)
    codes = z0.repeat(len(dims) * len(vals), 1)  # (rows*cols, D)
    for r, d in enumerate(dims):
        codes[r * len(vals):(r + 1) * len(vals), d] = vals
    with torch.no_grad():
        imgs = decode(codes.to(z0.device))
    names = list(dim_names) if dim_names is not None else [f"$z_{{{d + 1}}}$" for d in dims]
    fig = image_grid(imgs.detach().cpu(), ncols=len(vals), row_labels=names,
                     title=title or f"Each row moves one latent from {float(vals[0]):g} to {float(vals[-1]):g}")
    return fig


def same_style_grid(decode: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], z: torch.Tensor, *,
                    num_classes: int = 10, title: str = "",
                    row_labels: Sequence[str] | None = None) -> Figure:
    """Decode each style code with every label: one row per code, one column per label.

    The static companion of :class:`vaelib.widgets.ConditionalExplorer`: a row keeps the latent
    code fixed and changes only the label.

    Args:
        decode: maps codes (M, D) and labels (M,) to images in [0, 1], e.g.
            ``lambda z, y: torch.sigmoid(cvae.decode(z, y))``.
        z: style codes, (R, D) (or (D,) for one row).
        num_classes: the labels 0..num_classes-1, left to right.
        row_labels: text to the left of each row.
    """
    z = torch.as_tensor(z).detach()
    z = z.unsqueeze(0) if z.dim() == 1 else z
    rows = z.shape[0]
    codes = z.repeat_interleave(num_classes, dim=0)  # (R, D) -> (R*K, D), row-major
    labels = torch.arange(num_classes, device=z.device).repeat(rows)  # (R*K,)
    with torch.no_grad():
        imgs = decode(codes, labels)
    fig = image_grid(imgs.detach().cpu(), ncols=num_classes, row_labels=row_labels,
                     title=title or "Same style code (row), every label (column)")
    ax = fig.axes[0]
    h = imgs.shape[-1] + 1
    with mpl.rc_context(STYLE):  # the label row is drawn in the course style too
        ax.set_xticks([1 + h * k + h / 2 for k in range(num_classes)], [str(k) for k in range(num_classes)])
        ax.tick_params(axis="x", length=0)
        ax.set_xlabel("label given to the decoder")
    width, height = fig.get_size_inches()
    fig.set_size_inches(width, height + 0.45)  # room for the label row and the axis title
    return fig


def roc_curves(curves: dict, *, title: str = "",
               xlabel: str = "false positive rate (normal digits flagged)",
               ylabel: str = "true positive rate (anomalies flagged)") -> Figure:
    """ROC curves, one per score, with the chance diagonal.

    Args:
        curves: ``{name: (fpr, tpr)}`` or ``{name: (fpr, tpr, auroc)}``; the AUROC, when given,
            is added to the legend.
    """
    with figure(4.8, 4.4) as (fig, ax):
        ax.plot([0, 1], [0, 1], color=REFERENCE_GREY, lw=1, ls=":", label="chance (AUROC 0.5)")
        styles = ["-", "--", "-.", ":"]
        for i, (name, curve) in enumerate(curves.items()):
            fpr, tpr = curve[0], curve[1]
            label = f"{name} (AUROC {curve[2]:.3f})" if len(curve) > 2 else name
            ax.step(fpr, tpr, where="post", color=LINE_COLOURS[i % len(LINE_COLOURS)],
                    ls=styles[i % len(styles)], lw=1.8, label=label)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_aspect("equal")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize=8, loc="best")
        ax.set_title(title or "ROC curves: higher and further left is better")
    return fig


def samples_over_data(data: torch.Tensor, samples: dict, *, centers: torch.Tensor | None = None,
                      std: float | None = None, radius: float = 3.0, title: str = "",
                      max_points: int = 2000, limit: float | None = None) -> Figure:
    """2-D samples of several models, each in its own panel over the same data.

    Args:
        data: (N, 2) training points, drawn in light grey under every panel.
        samples: ``{name: (M, 2) samples}``, one panel each, in order.
        centers: optional (K, 2) mixture means; with ``std``, a circle of ``radius`` standard
            deviations is drawn around each (the "near a mode" disc of
            :func:`vaelib.evaluate.sample_quality.mode_coverage`).
        title: what the reader should see.
        max_points: points drawn per panel.
        limit: half-width of the square view; default: fitted to the data.
    """
    def as_points(t, name):
        arr = torch.as_tensor(t).detach().cpu().float().reshape(-1, 2)[:max_points].numpy()
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or Inf; there is nothing to draw.")
        return arr

    if not samples:
        raise ValueError("samples is empty: give at least one {name: points} entry.")
    d = as_points(data, "data")
    lim = limit if limit is not None else 1.25 * float(np.abs(d).max())
    with figure(2.6 * len(samples) + 0.4, 2.95, ncols=len(samples), sharex=True, sharey=True,
                squeeze=False) as (fig, grid):
        axes = grid[0]
        for i, (ax, (name, pts)) in enumerate(zip(axes, samples.items(), strict=True)):
            p = as_points(pts, name)
            ax.scatter(d[:, 0], d[:, 1], s=3, color="#BBBBBB", linewidths=0, label="data")
            ax.scatter(p[:, 0], p[:, 1], s=3, color=LINE_COLOURS[i % len(LINE_COLOURS)], linewidths=0,
                       alpha=0.7, label="samples")
            if centers is not None and std is not None:
                for cx, cy in torch.as_tensor(centers).cpu().tolist():
                    ax.add_patch(Circle((cx, cy), radius * std, fill=False, lw=0.8,
                                                    ls="--", color="#333333"))
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.set_title(name, fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
        if title:
            fig.suptitle(title)
    return fig
