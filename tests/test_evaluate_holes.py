"""vaelib.evaluate.far_from_data (chapter 1's holes) and classifier_confidence."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vaelib.evaluate import classifier_confidence, far_from_data


def test_far_from_data_on_a_known_geometry():
    # Training codes on the integer grid of [0, 4]^2; test codes 0.1 from a grid point, so the
    # threshold is 0.1; queries at known distances.
    g = torch.arange(5.0)
    z_train = torch.cartesian_prod(g, g)  # (25, 2)
    z_test = z_train[:10] + torch.tensor([0.1, 0.0])
    z_query = torch.tensor([[0.05, 0.0], [2.0, 2.0], [0.5, 0.5], [10.0, 10.0]])
    far, threshold = far_from_data(z_query, z_train, z_test)
    assert threshold == pytest.approx(0.1, abs=1e-6)
    assert far.tolist() == [False, False, True, True]


def test_far_from_data_batches_give_the_same_answer():
    gen = torch.Generator().manual_seed(0)
    z_train, z_test, z_query = (torch.randn(n, 3, generator=gen) for n in (300, 50, 500))
    a, ta = far_from_data(z_query, z_train, z_test)
    b, tb = far_from_data(z_query, z_train, z_test, batch_size=7)
    assert torch.equal(a, b) and ta == tb


def test_far_from_data_refuses_bad_input():
    z = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="quantile"):
        far_from_data(z, z, z, quantile=1.0)
    with pytest.raises(ValueError, match="same D"):
        far_from_data(torch.zeros(4, 3), z, z)


class _Fixed(nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = nn.Parameter(torch.as_tensor(logits, dtype=torch.float32))

    def forward(self, x):
        return self.logits[: x.shape[0]]


def test_classifier_confidence_is_the_mean_top_probability():
    # Two images: one with probabilities (0.95, 0.05), one uniform over two classes.
    logits = torch.log(torch.tensor([[0.95, 0.05], [0.5, 0.5]]))
    out = classifier_confidence(_Fixed(logits), torch.zeros(2, 1, 2, 2))
    assert out["confidence"] == pytest.approx((0.95 + 0.5) / 2, abs=1e-6)
    assert out["recognised"] == pytest.approx(0.5)
