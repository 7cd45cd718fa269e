"""One training loop for every model in the course.

:func:`fit` knows nothing about the model it trains: it draws minibatches from tensors that are
already on the device, calls ``loss_fn``, steps the optimizer, and records whatever terms the loss
function returns. A step whose loss terms or gradients are not finite makes no update and ends
training with a :class:`NonFiniteLossError` that carries the history so far. The budget is a
number of optimizer steps, so a chapter takes the same time whichever MNIST source was found; a
wall-clock ``time_limit`` can end it earlier, for comparisons of models at an equal time budget.

Every new model the course trains goes through :func:`train_new_model`: seed everything, build
the model, then :func:`fit` with the same seed, so that two runs with one seed start from the
same weights and see the same batches.
"""

from __future__ import annotations

import inspect
import math
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from ._validation import number, positive_int
from .runtime import env_flag, seed_everything

__all__ = ["fit", "train_new_model", "History", "NonFiniteLossError"]


class NonFiniteLossError(RuntimeError):
    """Training produced NaN or Inf in the loss terms or the gradients.

    The failing step makes no update. The message says which step failed, what was not finite,
    whether the weights are still those of the last good step, and what to try.

    Attributes:
        history: the :class:`History` of every completed step, as ``fit`` would have returned it.
        step: the 1-based step that failed.
    """

    def __init__(self, message: str, *, history: History | None = None, step: int | None = None):
        super().__init__(message)
        self.history = history if history is not None else History()
        self.step = step


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
        NonFiniteLossError: a loss term or a gradient became NaN or Inf; that step makes no
            update, so the model keeps the weights of the last completed step, and the exception's
            ``history`` holds every completed step.
        ValueError: bad arguments (counts that are not positive integers, too few examples,
            mismatched labels) or a loss that does not depend on the parameters.
    """
    steps = positive_int("steps", steps)
    batch_size = positive_int("batch_size", batch_size)
    n = x.shape[0]
    if batch_size > n:
        raise ValueError(f"batch_size={batch_size} must lie between 1 and the {n} training examples.")
    if y is not None and y.shape[0] != n:
        raise ValueError(f"x has {n} examples but y has {y.shape[0]}; they must match.")
    if eval_every is not None:
        eval_every = positive_int("eval_every", eval_every)
    if time_limit is not None:
        time_limit = number("time_limit", time_limit, above=0, advice="It is in seconds; None: no limit.")

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
            if not terms["loss"].requires_grad:
                raise ValueError(
                    "loss_fn's 'loss' does not depend on the model's parameters (it has no "
                    "gradient): was it computed under torch.no_grad(), or detached?"
                )
            if lr_schedule is not None:
                for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
                    group["lr"] = base * lr_schedule(step)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            grads_finite = _all_finite([p.grad for p in params if p.grad is not None], terms["loss"])
            if clip_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, clip_grad_norm)
            # One transfer from the device per step reads the terms and the gradient check together.
            *values, grads_ok = torch.stack(
                [*(t.detach().float() for t in terms.values()), grads_finite.float()]).tolist()
            if not grads_ok:  # the quick sum also overflows for huge finite gradients: look closely
                grads_ok = _all_entries_finite([p.grad for p in params if p.grad is not None])
            if not (grads_ok and all(math.isfinite(v) for v in values)):
                raise _divergence(model, step + 1, dict(zip(terms, values, strict=True)), history)
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


def train_new_model(build: Callable[[], nn.Module], loss_fn: Callable, x: torch.Tensor, *,
                    seed: int = 0, device: str | torch.device | None = None,
                    optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None,
                    **fit_args) -> tuple[nn.Module, History]:
    """Seed everything, build a fresh model and train it with :func:`vaelib.fit`.

    The seed fixes the initial weights (``build`` runs right after seeding), the batch order and
    the sampling noise, so that models trained with one seed and different settings start from
    the same weights and see the same batches.

    Args:
        build: makes the untrained model, e.g. ``lambda: VAE(20)``.
        loss_fn: the loss, as :func:`vaelib.fit` takes it.
        x: training inputs, (N, ...).
        seed: seeds :func:`vaelib.seed_everything` and :func:`vaelib.fit`.
        device: where to train (default: ``x``'s device).
        optimizer: an optimizer over the built model's parameters, made by this function of the
            model (e.g. one Adam per part of a GAN); ``None``: Adam at ``fit_args["lr"]``.
        **fit_args: the other arguments of :func:`vaelib.fit` (``steps`` is required).

    Returns:
        ``(model, history)``, the model in eval mode on ``device``.
    """
    device = torch.device(device) if device is not None else x.device
    seed_everything(seed)
    model = build().to(device)
    history = fit(model, loss_fn, x.to(device), seed=seed,
                  optimizer=optimizer(model) if optimizer is not None else None, **fit_args)
    return model.eval(), history


def _all_finite(grads: list[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    """True (a 0-d tensor, left on the device) when the gradients sum to a finite number.

    A NaN or an Inf anywhere makes the sum non-finite, so a True is certain; a False may also be
    an overflow of huge finite gradients, which :func:`_all_entries_finite` then tells apart. One
    sum per tensor costs a twentieth of an exact max-magnitude check on a CPU (about 50 against
    1,000 microseconds for the chapters' VAE), and every step pays it.
    """
    if not grads:
        return torch.ones((), dtype=torch.bool, device=like.device)
    return torch.isfinite(torch.stack([g.sum() for g in grads]).sum())


def _all_entries_finite(grads: list[torch.Tensor]) -> bool:
    """Whether every entry of every gradient is finite: the exact, slower check."""
    return all(bool(torch.isfinite(g).all()) for g in grads)


def _divergence(model: torch.nn.Module, step: int, terms: dict[str, float],
                history: History) -> NonFiniteLossError:
    """The error for a step whose terms or gradients are not finite (its update is not made)."""
    named = ", ".join(f"{k}={v:.4g}" for k, v in terms.items())
    if all(math.isfinite(v) for v in terms.values()):
        bad = [name for name, p in model.named_parameters()
               if p.grad is not None and not torch.isfinite(p.grad).all()]
        what = (f"Non-finite gradients at step {step} (of {_some(bad)}) although the loss "
                f"terms were finite ({named}): the update was skipped.")
        hint = ("look for an operation with an infinite slope at these inputs (sqrt or log at 0), "
                "or try a lower learning rate or clip_grad_norm=1.0.")
    else:
        what = f"Non-finite training terms at step {step} ({named}): no update was made with them."
        hint = ("try a lower learning rate or clip_grad_norm=1.0, or check the inputs for NaN and "
                "for values outside the likelihood's range.")
    broken = [name for name, p in model.named_parameters() if not torch.isfinite(p).all()]
    if broken:
        state = (f"The weights are no longer finite ({_some(broken)}): an earlier update overflowed, "
                 "so rebuild the model (or reload a checkpoint) before training again.")
    else:
        state = f"The model keeps {f'the weights after step {step - 1}' if step > 1 else 'the weights it had before fit'}."
    done = len(history.steps)
    return NonFiniteLossError(
        f"{what} {state} The exception's .history holds the {done} completed "
        f"step{'' if done == 1 else 's'}. To fix it, {hint}",
        history=history, step=step)


def _some(names: list[str], shown: int = 3) -> str:
    """At most ``shown`` names, then how many more: a message stays one readable line."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


# The printed summary fits the book's text column (about 90 characters at 1280 px) without a
# sideways scroll: the run on one line, the mean terms on as many indented lines as they need.
SUMMARY_WIDTH = 88


def _summary(desc: str, history: History, width: int = SUMMARY_WIDTH) -> str:
    """Steps, time and speed, then the last terms (mean of the last 100 steps), in lines of at most ``width``."""
    limit = " (time limit reached)" if history.time_limited else ""
    head = textwrap.fill(f"{desc}: {len(history.steps):,} steps in {history.seconds:.1f} s{limit} "
                         f"({history.steps_per_second:.0f} steps/s)", width=width,
                         subsequent_indent="  ", break_long_words=True)
    tail = {k: sum(v[-100:]) / len(v[-100:]) for k, v in history.train.items()}
    lines, line = [head], "  mean of the last 100 steps:"
    for k, v in tail.items():  # a term and its value stay on one line
        term = f" {k} {v:.2f}"
        if len(line) + len(term) + 1 > width and line.strip().endswith(";"):
            lines.append(line.rstrip(";"))
            line = "   "
        line += term + ";"
    if tail:
        lines.append(line.rstrip(";"))
    return "\n".join(textwrap.fill(text, width=width, subsequent_indent="    ") for text in lines)


def _evaluate(model, eval_fn, step: int, history: History) -> None:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        result = dict(eval_fn(model))
    model.train(was_training)
    history.evals.append({"step": step, **{k: float(v) for k, v in result.items()}})
