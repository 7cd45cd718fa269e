"""The procedural sprites: grid, determinism, every factor visible, and the dSprites .npz loader."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vaelib.data.dsprites_file import load_dsprites_npz
from vaelib.data.sprites import (
    FACTOR_NAMES,
    R_MAX,
    SHAPES,
    SpriteFactors,
    dsprites_factors,
    equivalent_orientations,
    make_sprites,
    sprite_factors,
)


@pytest.fixture(scope="module")
def default_set():
    return make_sprites()


def _find(sprites, index) -> int:
    hits = (sprites.factor_indices == torch.tensor(index)).all(dim=1).nonzero()
    assert hits.numel() == 1, f"grid point {index} should occur exactly once"
    return int(hits[0, 0])


def test_default_grid_sizes_and_ranges(default_set):
    s = default_set
    assert s.factor_names == FACTOR_NAMES
    assert s.factor_sizes == (3, 4, 8, 8, 8)
    assert len(s) == 3 * 4 * 8 * 8 * 8 == 6144
    assert s.x.shape == (6144, 1, 32, 32) and s.x.dtype == torch.float32
    assert s.factors.shape == (6144, 5) and s.factor_indices.dtype == torch.int64
    f = s.factors.numpy()
    assert set(np.unique(f[:, 0])) == {1.0, 2.0, 3.0}  # dSprites' shape codes
    assert f[:, 1].min() == pytest.approx(0.5) and f[:, 1].max() == pytest.approx(1.0)
    assert f[:, 2].min() == 0.0 and f[:, 2].max() < 2 * math.pi  # [0, 2π): no duplicate of 0
    assert np.allclose(np.unique(f[:, 2]), 2 * np.pi * np.arange(8) / 8)
    for k in (3, 4):
        assert f[:, k].min() == 0.0 and f[:, k].max() == 1.0
    # Indices and values agree, and the whole grid appears once (row-major, posY fastest).
    assert np.allclose(s.grid.values_at(s.factor_indices.numpy()), f, atol=1e-6)
    flat = np.ravel_multi_index(s.factor_indices.numpy().T, s.factor_sizes)
    assert np.array_equal(flat, np.arange(6144))


def test_dsprites_grid_is_the_published_one():
    g = dsprites_factors()
    assert g.sizes == (3, 6, 40, 32, 32) and len(g) == 737_280
    assert g.orientations[0] == 0.0 and g.orientations[-1] == pytest.approx(2 * math.pi)
    # The published grid's endpoints coincide; the square and ellipse symmetries come on top.
    assert equivalent_orientations(g.orientations, "heart")[39] == 0
    assert len(set(equivalent_orientations(g.orientations, "heart"))) == 39


def test_images_are_binary_and_every_image_shows_a_shape(default_set):
    x = default_set.x
    assert torch.equal(x, (x > 0.5).float())
    assert (x.sum(dim=(1, 2, 3)) > 0).all()


def test_same_seed_same_sample_other_seed_other_sample():
    a = make_sprites(n=200, seed=3)
    b = make_sprites(n=200, seed=3)
    c = make_sprites(n=200, seed=4)
    assert torch.equal(a.x, b.x) and torch.equal(a.factor_indices, b.factor_indices)
    assert not torch.equal(a.factor_indices, c.factor_indices)
    assert not torch.equal(a.x, c.x)
    assert len(np.unique(np.ravel_multi_index(a.factor_indices.numpy().T, a.factor_sizes))) == 200


def test_a_sample_matches_the_full_grid(default_set):
    sample = make_sprites(n=50, seed=1)
    for i in range(50):
        j = _find(default_set, sample.factor_indices[i].tolist())
        assert torch.equal(sample.x[i], default_set.x[j])


def test_symmetric_orientations_are_reported():
    angles = 2 * np.pi * np.arange(8) / 8
    assert equivalent_orientations(angles, "square").tolist() == [0, 1, 0, 1, 0, 1, 0, 1]
    assert equivalent_orientations(angles, "ellipse").tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert equivalent_orientations(angles, "heart").tolist() == list(range(8))


@pytest.mark.parametrize("base", [[0, 1, 1, 3, 4], [1, 3, 0, 0, 7], [2, 0, 5, 6, 2]])
def test_changing_any_one_factor_changes_the_image(default_set, base):
    s = default_set
    image = s.x[_find(s, base)]
    for k, size in enumerate(s.factor_sizes):
        for value in range(size):
            if value == base[k]:
                continue
            other = list(base)
            other[k] = value
            same = torch.equal(s.x[_find(s, other)], image)
            if k == 2:  # orientation: identical exactly when the shape's symmetry says so
                rep = equivalent_orientations(s.grid.orientations, SHAPES[base[0]])
                assert same == (rep[value] == rep[base[2]]), (FACTOR_NAMES[k], base, value)
            else:
                assert not same, f"changing {FACTOR_NAMES[k]} to index {value} left {base} unchanged"


def test_canonical_indices_merge_exactly_the_identical_images(default_set):
    s = default_set
    canon = s.canonical_factor_indices().numpy()
    keys = np.ravel_multi_index(canon.T, s.factor_sizes)
    images = s.x.flatten(start_dim=1).numpy().astype(bool)
    _, first = np.unique(keys, return_index=True)
    # 3 shapes x 4 x 8 x 8 positions x distinct poses (square 2, ellipse 4, heart 8)
    assert first.size == 4 * 64 * (2 + 4 + 8)
    for key, i in zip(keys[:500], range(500), strict=True):
        assert np.array_equal(images[i], images[first[np.searchsorted(keys[first], key)]])


def test_areas_follow_the_geometry(default_set):
    # At equal scale: heart 2.19 r², square 2.00 r², ellipse 1.57 r² (see the module docstring).
    s = default_set
    area = s.x.sum(dim=(1, 2, 3)).numpy()
    idx = s.factor_indices.numpy()
    r = R_MAX * 32 * s.grid.scales[-1]  # radius in pixels at the largest scale
    mean = [area[(idx[:, 0] == k) & (idx[:, 1] == 3)].mean() for k in range(3)]
    assert mean[2] > mean[0] > mean[1]
    for got, want in zip(mean, (2.0, math.pi / 2, 2.19), strict=True):
        assert got == pytest.approx(want * r * r, rel=0.05)
    # Area grows with the square of the scale.
    sq = [area[(idx[:, 0] == 0) & (idx[:, 1] == j)].mean() for j in range(4)]
    assert np.all(np.diff(sq) > 0)
    assert sq[3] / sq[0] == pytest.approx(4.0, rel=0.1)


def test_positions_move_the_centre_of_mass(default_set):
    s = default_set
    x = s.x[:, 0]
    cols = (x.sum(dim=1) * torch.arange(32)).sum(dim=1) / x.sum(dim=(1, 2))
    rows = (x.sum(dim=2) * torch.arange(32)).sum(dim=1) / x.sum(dim=(1, 2))
    idx = s.factor_indices
    sel = (idx[:, 0] == 1)  # the ellipse: its centre of mass is its centre
    want = (R_MAX + (1 - 2 * R_MAX) * s.factors[:, 3]) * 32 - 0.5  # in pixel-index units
    assert torch.allclose(cols[sel], want[sel], atol=0.5)
    want = (R_MAX + (1 - 2 * R_MAX) * s.factors[:, 4]) * 32 - 0.5
    assert torch.allclose(rows[sel], want[sel], atol=0.5)


def test_custom_grids_and_the_dsprites_sample():
    s = make_sprites(shapes=("heart",), scales=[1.0], orientations=3, positions=2, size=16)
    assert s.factor_sizes == (1, 1, 3, 2, 2) and s.x.shape == (12, 1, 16, 16)
    assert (s.factors[:, 0] == 3).all()  # the heart keeps its dSprites code
    d = make_sprites(dsprites_factors(), size=64, n=64, seed=0)
    assert d.x.shape == (64, 1, 64, 64) and d.factor_sizes == (3, 6, 40, 32, 32)


@pytest.mark.parametrize("kwargs, match", [
    (dict(size=4), "size"),
    (dict(n=0), "n must be a positive integer, got 0"),
    (dict(n=10**6), "between 1 and"),
    (dict(n=5, seed=-1), "seed"),
    (dict(supersample=2), "odd"),
    (dict(shapes=("circle",)), "shapes"),
    (dict(scales=[0.5, 1.5]), "scales"),
    (dict(positions=[-0.1, 0.5]), "pos_x"),
    (dict(orientations=0), "orientations"),
    (dict(scales="big"), "scales"),
    (dict(grid=dsprites_factors(), scales=3), "not both"),
])
def test_bad_arguments_are_explained(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_sprites(**kwargs)


def test_sprite_factors_builds_grids():
    g = sprite_factors(scales=1, orientations=1, positions=1)
    assert g.scales == (0.75,) and g.orientations == (0.0,) and g.pos_x == (0.5,)
    assert isinstance(g, SpriteFactors) and len(g) == 3
    with pytest.raises(ValueError, match="unknown"):
        equivalent_orientations([0.0], "circle")


# ------------------------------------------------------------------------ the real-file loader
def _fake_dsprites(path, *, n_per=2, drop=None):
    """A tiny file with the real one's layout: 6 latents (colour first), 0/1 uint8 images."""
    classes = np.stack(np.meshgrid(*[np.arange(k) for k in (1, 3, n_per, n_per, n_per, n_per)],
                                   indexing="ij"), axis=-1).reshape(-1, 6)
    values = np.stack([
        np.ones(len(classes)), classes[:, 1] + 1.0,
        np.linspace(0.5, 1, n_per)[classes[:, 2]], np.linspace(0, 2 * np.pi, n_per)[classes[:, 3]],
        np.linspace(0, 1, n_per)[classes[:, 4]], np.linspace(0, 1, n_per)[classes[:, 5]],
    ], axis=1)
    imgs = np.zeros((len(classes), 64, 64), dtype=np.uint8)
    imgs[np.arange(len(classes)), classes[:, 4], classes[:, 5]] = 1  # something to check against
    arrays = dict(imgs=imgs, latents_values=values, latents_classes=classes)
    if drop:
        arrays.pop(drop)
    np.savez_compressed(path, **arrays)
    return arrays


def test_load_dsprites_npz_reads_a_fake_file(tmp_path):
    path = tmp_path / "dsprites.npz"
    arrays = _fake_dsprites(path)
    s = load_dsprites_npz(path)
    assert s.x.shape == (48, 1, 64, 64) and torch.equal(s.x[:, 0], torch.from_numpy(arrays["imgs"]).float())
    assert s.factor_sizes == (3, 2, 2, 2, 2) and s.factor_names == FACTOR_NAMES
    assert np.array_equal(s.factor_indices.numpy(), arrays["latents_classes"][:, 1:])  # colour dropped
    assert np.allclose(s.factors.numpy(), arrays["latents_values"][:, 1:])
    assert s.grid.shapes == SHAPES and s.grid.orientations[-1] == pytest.approx(2 * np.pi)
    sub = load_dsprites_npz(path, n=10, seed=0)
    assert len(sub) == 10 and torch.equal(sub.x, load_dsprites_npz(path, n=10, seed=0).x)


def test_load_dsprites_npz_explains_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="dsprites-dataset"):
        load_dsprites_npz(tmp_path / "nowhere.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip archive")
    with pytest.raises(ValueError, match="not a readable"):
        load_dsprites_npz(bad)
    truncated = tmp_path / "truncated.npz"
    _fake_dsprites(truncated)
    truncated.write_bytes(truncated.read_bytes()[:-200])  # cut off the zip directory
    with pytest.raises(ValueError, match="not a readable"):
        load_dsprites_npz(truncated)
    partial = tmp_path / "partial.npz"
    _fake_dsprites(partial, drop="latents_classes")
    with pytest.raises(ValueError, match="lacks"):
        load_dsprites_npz(partial)
    ok = tmp_path / "ok.npz"
    arrays = _fake_dsprites(ok)
    with pytest.raises(ValueError, match="n=100"):
        load_dsprites_npz(ok, n=100)
    grey = tmp_path / "grey.npz"
    np.savez(grey, **{**arrays, "imgs": arrays["imgs"] * 255})
    with pytest.raises(ValueError, match="only 0s and 1s"):
        load_dsprites_npz(grey)
