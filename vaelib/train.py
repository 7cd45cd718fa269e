"""One training loop for every model in the course.

:func:`fit` knows nothing about the model it trains: it draws minibatches from tensors that are
already on the device, calls ``loss_fn``, steps the optimizer, and records whatever terms the loss
function returns. The budget is a number of optimizer steps, so a chapter takes the same time
whichever MNIST source was found; a wall-clock ``time_limit`` can end it earlier, for comparisons
of models at an equal time budget.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from .runtime import env_flag

__all__ = ["fit", "History", "NonFiniteLossError"]


class NonFiniteLossError(RuntimeError):
    """Training produced NaN or Inf; the model keeps the weights from the last good step."""


@dataclass
class History:
    """What happened during :func:`fit`.

    Attributes:
        steps: the optimizer steps recorded, 1-based.
        train: per-step training terms, e.g. ``train["loss"][i]`` at ``steps[i]``.
        evals: periodic evaluations, each a dict with a ``"step"`` key and the eval terms.
        seconds: wall time spent in training steps (evaluations excluded).
        interrupted: True when training was stopped with Ctrl-C / the notebook's stop button.
        time_limited: True when ``fit``'s ``time_limit`` ended training before its step budget.
    """

    steps: list[int] = field(default_factory=list)
    train: dict[str, list[float]] = field(default_factory=dict)
    evals: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    time_limited: bool = False

    def record(self, step: int, terms: dict[str, float]) -> None:
        self.steps.append(step)
        for key, value in terms.items():
            self.train.setdefault(key, []).append(value)

    def eval_series(self, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of one evaluated quantity."""
        rows = [e for e in self.evals if key in e]
        return [int(e["step"]) for e in rows], [e[key] for e in rows]

    @property
    def steps_per_second(self) -> float:
        return len(self.steps) / self.seconds if self.seconds > 0 else float("nan")


def _terms_of(out) -> dict[str, torch.Tensor]:
    terms = out.__dict__ if hasattr(out, "__dataclass_fields__") else out
    if not isinstance(terms, dict) or "loss" not in terms:
        raise TypeError(
            "loss_fn must return a dict (or dataclass) of scalar tensors with a 'loss' entry, "
            f"got {type(out).__name__}."
        )
    return terms


def fit(
    model: torch.nn.Module,
    loss_fn: Callable,
    x: torch.Tensor,
    *,
    steps: int,
    y: torch.Tensor | None = None,
    batch_size: int = 100,
    lr: float = 1e-3,
    lr_schedule: Callable[[int], float] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    eval_fn: Callable[[torch.nn.Module], dict[str, float]] | None = None,
    eval_every: int | None = None,
    clip_grad_norm: float | None = None,
    time_limit: float | None = None,
    seed: int | None = 0,
    progress: bool = True,
    desc: str = "training",
) -> History:
    """Train ``model`` for a fixed number of optimizer steps.

    Args:
        model: any ``nn.Module``; it is trained on the device its parameters are on.
        loss_fn: ``loss_fn(model, x_batch)`` (or ``loss_fn(model, x_batch, y_batch)`` when ``y``
            is given) returning a dict or dataclass of scalar tensors with a ``"loss"`` entry; the
            other entries are recorded and shown in the progress bar. A ``step`` keyword
            parameter, if the function has one, receives the 0-based step (for schedules).
        x: training inputs, (N, ...); moved once to the model's device.
        steps: number of optimizer steps (the budget).
        y: optional labels, (N,), batched alongside ``x``.
        batch_size: examples per step; batches are drawn without replacement, epoch by epoch.
        lr: Adam's learning rate (ignored when ``optimizer`` is given).
        lr_schedule: multiplier of the learning rate as a function of the 0-based step.
        optimizer: an optimizer over ``model``'s parameters, to use instead of Adam.
        transform: applied to each input batch, e.g. :func:`vaelib.data.binarize`.
        eval_fn: called with the model in eval mode and no gradients every ``eval_every`` steps
            and at the end; returns a dict of floats stored in ``History.evals``.
        eval_every: how often to call ``eval_fn``; default: only at the end.
        clip_grad_norm: clip the gradients' global norm to this value.
        time_limit: seconds of training (evaluations excluded) after which training stops, even
            if fewer than ``steps`` steps were made; ``steps`` is then a cap. The step that crosses
            the limit is completed. ``None``: no limit.
        seed: seeds batch order and PyTorch's global generator (the sampling noise); ``None``
            leaves both alone.
        progress: show a progress bar with the live loss terms.
        desc: the progress bar's label.

    Returns:
        A :class:`History`. An interrupt (Ctrl-C, the notebook's stop button) ends training early
        and still returns the model as trained so far and the history up to that point.

    Raises:
        NonFiniteLossError: the loss became NaN or Inf; the step is named and no update is made
            with it, so the model keeps the weights of the last finite step.
        ValueError: bad arguments (non-positive steps, too few examples, mismatched labels).
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer (the number of optimizer steps), got {steps!r}.")
    n = x.shape[0]
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size={batch_size} must lie between 1 and the {n} training examples.")
    if y is not None and y.shape[0] != n:
        raise ValueError(f"x has {n} examples but y has {y.shape[0]}; they must match.")
    if eval_every is not None and eval_every < 1:
        raise ValueError(f"eval_every must be a positive number of steps, got {eval_every}.")
    if time_limit is not None and not (isinstance(time_limit, (int, float)) and time_limit > 0):
        raise ValueError(f"time_limit must be a positive number of seconds (or None), got {time_limit!r}.")

    params = [p for p in model.parameters() if p.requires_grad]
    device = params[0].device if params else torch.device("cpu")
    x = x.to(device)
    y = y.to(device) if y is not None else None
    if optimizer is None:
        optimizer = torch.optim.Adam(params, lr=lr)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    pass_step = "step" in inspect.signature(loss_fn).parameters

    generator = torch.Generator()
    if seed is not None:
        generator.manual_seed(seed)
        torch.manual_seed(seed)

    history = History()
    order = torch.empty(0, dtype=torch.long)
    cursor = 0
    # TQDM_DISABLE=1 (set when the static book is built) turns the live bar off but keeps the
    # closing summary line; tqdm's notebook bar ignores that variable, so it is read here.
    show_bar = progress and not env_flag("TQDM_DISABLE")
    bar = tqdm(total=steps, desc=desc, disable=not show_bar, dynamic_ncols=True, leave=True)
    model.train()
    step = 0
    try:
        for step in range(steps):
            start = time.perf_counter()
            if cursor + batch_size > order.numel():  # a new epoch: a fresh permutation
                order = torch.randperm(n, generator=generator).to(device)
                cursor = 0
            idx = order[cursor:cursor + batch_size]
            cursor += batch_size
            xb = x[idx]
            if transform is not None:
                xb = transform(xb)
            args = (model, xb) if y is None else (model, xb, y[idx])
            terms = _terms_of(loss_fn(*args, step=step) if pass_step else loss_fn(*args))

            values = torch.stack([t.detach().float() for t in terms.values()]).tolist()
            if not all(math.isfinite(v) for v in values):
                named = dict(zip(terms, values, strict=True))
                raise NonFiniteLossError(
                    f"Non-finite training terms at step {step + 1}: {named}. The model keeps the "
                    "weights from the previous step. Try a lower learning rate, clip_grad_norm=..., "
                    "or check the inputs for NaN and values outside the likelihood's range."
                )
            if lr_schedule is not None:
                for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
                    group["lr"] = base * lr_schedule(step)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            if clip_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, clip_grad_norm)
            optimizer.step()
            history.seconds += time.perf_counter() - start
            history.record(step + 1, dict(zip(terms, values, strict=True)))

            if show_bar and (step % 25 == 0 or step == steps - 1):
                bar.set_postfix({k: f"{v:.2f}" for k, v in zip(terms, values, strict=True)}, refresh=False)
            bar.update(1)
            if eval_fn is not None and eval_every is not None and (step + 1) % eval_every == 0 \
                    and step + 1 < steps:
                _evaluate(model, eval_fn, step + 1, history)
            if time_limit is not None and history.seconds >= time_limit:
                history.time_limited = step + 1 < steps
                break
    except KeyboardInterrupt:
        history.interrupted = True
        bar.close()
        print(f"Interrupted after {len(history.steps)} of {steps} steps: the model keeps the weights "
              "trained so far and the history holds every completed step.")
        model.eval()
        return history
    finally:
        bar.close()
    if eval_fn is not None:
        _evaluate(model, eval_fn, len(history.steps), history)
    model.eval()
    if progress:
        print(_summary(desc, history))
    return history


def _summary(desc: str, history: History) -> str:
    """One line for the record: steps, time, speed and the last terms (mean of the last 100)."""
    tail = {k: sum(v[-100:]) / len(v[-100:]) for k, v in history.train.items()}
    terms = ", ".join(f"{k} {v:.2f}" for k, v in tail.items())
    limit = " (time limit reached)" if history.time_limited else ""
    return (f"{desc}: {len(history.steps):,} steps in {history.seconds:.1f} s{limit} "
            f"({history.steps_per_second:.0f} steps/s); mean of the last 100 steps: {terms}")


def _evaluate(model, eval_fn, step: int, history: History) -> None:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        result = dict(eval_fn(model))
    model.train(was_training)
    history.evals.append({"step": step, **{k: float(v) for k, v in result.items()}})
