"""Data sets as preloaded tensors: MNIST (full or bundled subset), binarization, procedural
dSprites-like sprites with known generative factors, and a 2-D mixture of Gaussians."""

from .binarize import binarize, fixed_binarization
from .dsprites_file import load_dsprites_npz
from .mixture import MixtureSet, make_mixture
from .mnist import ImageSet, default_root, load_mnist
from .sprites import (
    FACTOR_NAMES,
    SHAPES,
    SpriteFactors,
    SpriteSet,
    dsprites_factors,
    equivalent_orientations,
    make_sprites,
    sprite_factors,
)

__all__ = [
    "ImageSet", "load_mnist", "default_root", "binarize", "fixed_binarization",
    "SpriteFactors", "SpriteSet", "make_sprites", "sprite_factors", "dsprites_factors",
    "load_dsprites_npz", "equivalent_orientations", "SHAPES", "FACTOR_NAMES",
    "MixtureSet", "make_mixture",
]
