from __future__ import annotations

import pytest
import torch

from vaelib.data import binarize
from vaelib.losses import elbo
from vaelib.models import VAE
from vaelib.runtime import seed_everything
from vaelib.schedules import cosine_lr
from vaelib.train import History, NonFiniteLossError, fit


def _data(n=200):
    return torch.rand(n, 1, 4, 4)


def _model(seed=0):
    seed_everything(seed)
    return VAE(2, hidden=(16,), image_shape=(1, 4, 4))


def _elbo_loss(model, x):
    return elbo(model, x)


def test_budget_is_a_number_of_steps_and_terms_are_recorded():
    history = fit(_model(), _elbo_loss, _data(), steps=37, batch_size=16, progress=False)
    assert history.steps == list(range(1, 38))
    assert set(history.train) == {"loss", "reconstruction", "kl", "elbo"}
    assert all(len(v) == 37 for v in history.train.values())
    assert history.seconds > 0 and not history.interrupted


def test_training_lowers_the_loss():
    x = binarize(torch.rand(1, 1, 4, 4).expand(400, 1, 4, 4).contiguous() * 0 + 0.9)
    history = fit(_model(), _elbo_loss, x, steps=300, batch_size=50, lr=1e-2, progress=False)
    first, last = sum(history.train["loss"][:20]) / 20, sum(history.train["loss"][-20:]) / 20
    assert last < first - 1.0


def test_same_seed_same_weights_on_cpu():
    x = _data()
    a, b = _model(), _model()
    fit(a, _elbo_loss, x, steps=20, batch_size=32, transform=binarize, seed=7, progress=False)
    fit(b, _elbo_loss, x, steps=20, batch_size=32, transform=binarize, seed=7, progress=False)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_non_finite_loss_names_the_step_and_keeps_the_last_good_weights():
    model = _model()
    snapshot = {}

    def loss_fn(m, x, step):
        if step == 4:
            snapshot.update({k: v.clone() for k, v in m.state_dict().items()})
            return {"loss": torch.tensor(float("nan"), requires_grad=True)}
        return elbo(m, x)

    with pytest.raises(NonFiniteLossError, match=r"step 5.*lower learning rate"):
        fit(model, loss_fn, _data(), steps=10, batch_size=16, progress=False)
    for k, v in model.state_dict().items():
        assert torch.equal(v, snapshot[k]), f"{k} changed after the NaN step"


def test_interrupt_keeps_model_and_history(capsys):
    def loss_fn(m, x, step):
        if step == 10:
            raise KeyboardInterrupt
        return elbo(m, x)

    history = fit(_model(), loss_fn, _data(), steps=100, batch_size=16, progress=False)
    assert history.interrupted and len(history.steps) == 10
    assert "Interrupted after 10 of 100 steps" in capsys.readouterr().out


def test_periodic_and_final_evaluation():
    calls = []

    def eval_fn(m):
        assert not m.training and not torch.is_grad_enabled()
        calls.append(1)
        return {"score": float(len(calls))}

    history = fit(_model(), _elbo_loss, _data(), steps=25, batch_size=16, eval_fn=eval_fn,
                  eval_every=10, progress=False)
    assert [e["step"] for e in history.evals] == [10, 20, 25]
    assert history.eval_series("score") == ([10, 20, 25], [1.0, 2.0, 3.0])


def test_labels_and_transform_reach_the_loss():
    seen = {}

    def loss_fn(m, x, y):
        seen["binary"] = bool(((x == 0) | (x == 1)).all())
        seen["labels"] = y.shape
        return elbo(m, x)

    fit(_model(), loss_fn, _data(), y=torch.arange(200), steps=2, batch_size=8, transform=binarize,
        progress=False)
    assert seen == {"binary": True, "labels": (8,)}


def test_every_example_is_seen_once_per_epoch():
    seen = []

    def loss_fn(m, x, y):
        seen.extend(y.tolist())
        return elbo(m, x)

    fit(_model(), loss_fn, _data(100), y=torch.arange(100), steps=10, batch_size=10, progress=False)
    assert sorted(seen) == list(range(100))


def test_lr_schedule_is_applied():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    fit(model, _elbo_loss, _data(), steps=10, batch_size=16, optimizer=opt,
        lr_schedule=cosine_lr(10), progress=False)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * cosine_lr(10)(9))
    schedule = cosine_lr(100, warmup=10)
    assert schedule(0) == pytest.approx(0.1) and schedule(10) == pytest.approx(1.0)
    assert schedule(100) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("kwargs,message", [
    ({"steps": 0}, "steps must be a positive integer"),
    ({"steps": 5, "batch_size": 1000}, "batch_size=1000 must lie between 1 and the 200"),
    ({"steps": 5, "y": torch.zeros(3)}, "x has 200 examples but y has 3"),
    ({"steps": 5, "eval_every": 0}, "eval_every must be a positive"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit(_model(), _elbo_loss, _data(), progress=False, **kwargs)


def test_loss_fn_must_return_a_loss():
    with pytest.raises(TypeError, match="'loss' entry"):
        fit(_model(), lambda m, x: elbo(m, x).loss, _data(), steps=1, progress=False)


def test_summary_line_is_printed(capsys):
    fit(_model(), _elbo_loss, _data(), steps=3, batch_size=16, desc="tiny", progress=True)
    out = capsys.readouterr().out
    assert "tiny: 3 steps in" in out and "steps/s" in out


def test_time_limit_ends_training_early_and_says_so():
    history = fit(_model(), _elbo_loss, _data(), steps=10**6, batch_size=16, time_limit=0.3,
                  progress=False)
    assert history.time_limited and 1 <= len(history.steps) < 10**6
    assert 0.3 <= history.seconds < 5.0  # stops after the step that crosses the limit (a busy CI is slow)
    roomy = fit(_model(), _elbo_loss, _data(), steps=5, batch_size=16, time_limit=60.0, progress=False)
    assert len(roomy.steps) == 5 and not roomy.time_limited
    for bad in (0, -1.0, "10"):
        with pytest.raises(ValueError, match="time_limit"):
            fit(_model(), _elbo_loss, _data(), steps=5, time_limit=bad, progress=False)


def test_summary_fits_the_book_column():
    """The closing summary wraps at SUMMARY_WIDTH (the book's column) and keeps each term whole."""
    from vaelib.train import SUMMARY_WIDTH, _summary

    history = History()
    names = ["loss", "reconstruction", "kl", "kl_weighted", "free_bits_kl", "test_reconstruction", "beta"]
    for step in range(1, 201):
        history.record(step, {name: -12345.678 + step + i for i, name in enumerate(names)})
    history.seconds, history.time_limited = 123.4, True
    text = _summary("β-VAE on sprites, β = 16, seed 2, latent size 10, with a KL warm-up", history)
    lines = text.splitlines()
    assert len(lines) >= 3 and all(len(line) <= SUMMARY_WIDTH for line in lines), text
    assert SUMMARY_WIDTH <= 90
    assert "200 steps in 123.4 s (time limit reached)" in " ".join(text.split())
    for i, name in enumerate(names):  # a term and its value on one line
        mean = sum(-12345.678 + s + i for s in range(101, 201)) / 100
        assert any(f"{name} {mean:.2f}" in line for line in lines), name
    short = _summary("tiny", history)
    assert short.splitlines()[0].startswith("tiny: 200 steps")


def test_summary_is_printed_within_the_column(capsys):
    from vaelib.train import SUMMARY_WIDTH

    fit(_model(), _elbo_loss, _data(), steps=3, batch_size=16, progress=True,
        desc="a long description of what is being trained here, as a chapter might write it")
    out = capsys.readouterr().out
    assert out.strip() and all(len(line) <= SUMMARY_WIDTH for line in out.splitlines()), out
