"""Data sets as preloaded tensors: MNIST (full or bundled subset) and binarization."""

from .binarize import binarize, fixed_binarization
from .mnist import ImageSet, default_root, load_mnist

__all__ = ["ImageSet", "load_mnist", "default_root", "binarize", "fixed_binarization"]
