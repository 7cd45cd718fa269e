"""Faults of the training loop that used to lose work or mislead (issue 17), each reproduced."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaelib.losses import elbo
from vaelib.models import VAE
from vaelib.runtime import seed_everything
from vaelib.train import History, NonFiniteLossError, fit


def _data(n=200):
    return torch.rand(n, 1, 4, 4)


def _model(seed=0):
    seed_everything(seed)
    return VAE(2, hidden=(16,), image_shape=(1, 4, 4))


def _snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_divergence_error_carries_the_history_of_the_completed_steps():
    def loss_fn(m, x, step):
        if step == 6:
            return {"loss": torch.tensor(float("inf"), requires_grad=True), "kl": torch.tensor(0.0)}
        return {"loss": elbo(m, x).loss, "kl": torch.tensor(float(step))}

    with pytest.raises(NonFiniteLossError) as caught:
        fit(_model(), loss_fn, _data(), steps=20, batch_size=16, progress=False)
    err = caught.value
    assert isinstance(err.history, History) and err.step == 7
    assert err.history.steps == [1, 2, 3, 4, 5, 6]
    assert err.history.train["kl"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert err.history.seconds > 0
    assert "history" in str(err)  # the message says where the completed steps are


def _infinite_gradient_at(bad_step):
    """An ELBO loss whose value stays finite but whose gradient is infinite at ``bad_step``."""

    def loss_fn(m, x, step):
        loss = elbo(m, x).loss
        if step == bad_step:
            w = m.decoder.net[-1].bias
            loss = loss + torch.sqrt(w.sum() - w.sum().detach())  # value sqrt(0) = 0, slope 1/0
        return {"loss": loss}

    return loss_fn


@pytest.mark.parametrize("clip", [None, 1.0])
def test_infinite_gradient_with_a_finite_loss_leaves_finite_weights_and_says_so(clip):
    model = _model()
    snapshot = {}

    def loss_fn(m, x, step):
        if step == 3:
            snapshot.update(_snapshot(m))
        return _infinite_gradient_at(3)(m, x, step)

    with pytest.raises(NonFiniteLossError, match=r"gradients at step 4.*update was skipped") as caught:
        fit(model, loss_fn, _data(), steps=10, batch_size=16, clip_grad_norm=clip, progress=False)
    for k, v in model.state_dict().items():
        assert torch.isfinite(v).all(), f"{k} holds NaN or Inf"
        assert torch.equal(v, snapshot[k]), f"{k} changed in the skipped step"
    message = str(caught.value)
    assert "decoder.net.2.bias" in message  # names the parameter whose gradient is not finite
    assert "weights after step 3" in message and "lower learning rate" in message
    assert caught.value.history.steps == [1, 2, 3]


def test_weights_made_non_finite_by_an_update_are_not_called_the_last_good_ones():
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=float("inf"))  # the first update overflows
    with pytest.raises(NonFiniteLossError) as caught:
        fit(model, lambda m, x: elbo(m, x), _data(), steps=5, batch_size=16, optimizer=optimizer,
            progress=False)
    message = str(caught.value)
    assert "weights are no longer finite" in message and "keeps the weights" not in message
    assert "rebuild" in message.lower()


def test_a_loss_without_a_gradient_is_a_clear_error():
    def detached(m, x):
        return {"loss": elbo(m, x).loss.detach()}

    with pytest.raises(ValueError, match="does not depend on the model's parameters"):
        fit(_model(), detached, _data(), steps=3, batch_size=16, progress=False)


@pytest.mark.parametrize("kwargs,message", [
    ({"batch_size": 2.5}, r"batch_size must be a positive integer, got 2\.5"),
    ({"batch_size": True}, "batch_size must be a positive integer, got True"),
    ({"batch_size": "16"}, "batch_size must be a positive integer, got '16'"),
    ({"eval_every": 2.5}, r"eval_every must be a positive integer, got 2\.5"),
    ({"steps": 3.0}, r"steps must be a positive integer"),
])
def test_non_integer_counts_are_clear_errors(kwargs, message):
    args = {"steps": 3, "batch_size": 16, **kwargs}
    with pytest.raises(ValueError, match=message):
        fit(_model(), lambda m, x: elbo(m, x), _data(), progress=False,
            eval_fn=(lambda m: {}) if "eval_every" in kwargs else None, **args)


def test_numpy_integers_are_fine_counts():
    history = fit(_model(), lambda m, x: elbo(m, x), _data(), steps=np.int64(4),
                  batch_size=np.int32(16), progress=False)
    assert history.steps == [1, 2, 3, 4]


def test_huge_finite_gradients_whose_sum_overflows_still_train():
    # The per-step check sums the gradients; a sum that overflows although every entry is finite
    # must not be taken for a NaN or an Inf.
    model = _model()

    def loss_fn(m, x, step):
        loss = elbo(m, x).loss
        w = m.decoder.net[-1].bias
        huge = (w[:2] * 3e38).sum()  # slope 3e38 for two entries: their sum overflows float32
        return {"loss": loss + huge - huge.detach()}

    history = fit(model, loss_fn, _data(), steps=3, batch_size=16, clip_grad_norm=1.0, progress=False)
    assert history.steps == [1, 2, 3]
    assert all(torch.isfinite(p).all() for p in model.parameters())
