"""Learning-rate schedules by epoch: constant, step and cosine, with linear warm-up."""

from __future__ import annotations

import math

from mnist_mlp import checks
from mnist_mlp.errors import ConfigError

__all__ = ["LRSchedule", "SCHEDULES", "make_schedule"]


def _constant_factor(epoch, span, step_size, gamma):
    return 1.0


def _step_factor(epoch, span, step_size, gamma):
    """gamma ** (number of whole step_size periods completed)."""
    return gamma ** math.floor(epoch / step_size)


def _cosine_factor(epoch, span, step_size, gamma):
    """(1 + cos(pi * e / T)) / 2: 1 at e = 0, 0 at e = T, and 0 after."""
    return 0.5 * (1.0 + math.cos(math.pi * min(epoch, span) / span))


# Multipliers of base_lr after warm-up, by name: f(epoch since warm-up, epochs after
# warm-up, step_size, gamma).
SCHEDULES = {"constant": _constant_factor, "step": _step_factor, "cosine": _cosine_factor}


class LRSchedule:
    r"""Learning rate as a function of the 0-based epoch index; see :func:`make_schedule`.

    Calling ``schedule(epoch)`` returns the rate for that epoch. Fractional epochs
    (``epoch + batch / batches_per_epoch``) are accepted for per-iteration schedules:
    warm-up and cosine are continuous in them, "step" drops at whole epochs.
    """

    def __init__(self, name, base_lr, total_epochs, warmup_epochs=0, step_size=None, gamma=0.1):
        self.name = checks.choice("schedule", str(name).strip().lower(), SCHEDULES)
        self.base_lr = checks.positive("base_lr", base_lr)
        self.total_epochs = checks.integer("total_epochs", total_epochs, 1)
        self.warmup_epochs = checks.integer("warmup_epochs", warmup_epochs, 0)
        if self.warmup_epochs >= self.total_epochs:
            raise ConfigError(
                f"The 'warmup_epochs' parameter must be < total_epochs ({self.total_epochs}); "
                f"got {warmup_epochs!r}."
            )
        span = self.total_epochs - self.warmup_epochs
        self.step_size = max(1, span // 3) if step_size is None else checks.integer("step_size", step_size, 1)
        self.gamma = checks.real("gamma", gamma, 0, 1, low_open=True, high_open=False)

    def __call__(self, epoch):
        r"""The rate for ``epoch`` (0-based, >= 0).

        During warm-up (:math:`e < W`) the rate rises linearly,
        :math:`\eta_0 (e + 1)/(W + 1)`, so the first epoch uses :math:`\eta_0/(W+1)` and
        epoch :math:`W` reaches :math:`\eta_0`. After it the named schedule runs over the
        remaining :math:`T - W` epochs, as if they were a fresh run starting at epoch 0.
        """
        epoch = checks.non_negative("epoch", epoch)
        warmup = self.warmup_epochs
        if epoch < warmup:
            return self.base_lr * (epoch + 1) / (warmup + 1)
        span = self.total_epochs - warmup
        return self.base_lr * SCHEDULES[self.name](epoch - warmup, span, self.step_size, self.gamma)

    def __repr__(self):
        return (f"LRSchedule({self.name!r}, base_lr={self.base_lr!r}, "
                f"total_epochs={self.total_epochs}, warmup_epochs={self.warmup_epochs}, "
                f"step_size={self.step_size}, gamma={self.gamma!r})")


def make_schedule(name, base_lr, total_epochs, warmup_epochs=0, step_size=None, gamma=0.1):
    r"""A learning-rate schedule by epoch: ``lr_at = make_schedule(...); lr_at(epoch)``.

    Parameters
    ----------
    name : {"constant", "step", "cosine"}
        "constant": :math:`\eta_0`. "step": :math:`\eta_0 \gamma^{\lfloor e/s \rfloor}`.
        "cosine": :math:`\eta_0 (1 + \cos(\pi e / T))/2`, from :math:`\eta_0` at the first
        epoch towards 0 at epoch :math:`T` (the first epoch after training; PyTorch's
        CosineAnnealingLR with ``T_max = T``), and 0 beyond it.
    base_lr : float
        :math:`\eta_0 > 0`.
    total_epochs : int >= 1
        Length of the run, warm-up included.
    warmup_epochs : int in [0, total_epochs)
        Linear warm-up :math:`\eta_0 (e+1)/(W+1)` for :math:`e < W`; the schedule then
        runs on :math:`e - W` over :math:`T - W` epochs.
    step_size : int >= 1, optional
        Period of the "step" schedule; default ``max(1, (total_epochs - warmup_epochs) // 3)``.
    gamma : float in (0, 1]
        Factor of each "step" drop.

    Returns
    -------
    LRSchedule
        A callable ``lr_at(epoch_index) -> float``.
    """
    return LRSchedule(name, base_lr, total_epochs, warmup_epochs, step_size, gamma)
