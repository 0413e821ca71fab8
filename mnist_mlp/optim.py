"""Update rules for trainable parameters, and learning-rate schedules.

A trainable layer exposes ``params()`` and ``grads()``: dicts with the same keys
(``"W"``, ``"b"``) whose arrays the rules below update in place, so one rule serves
every layer. The seed's ``layer.update(config)`` calls :func:`sgd_step`.

The optimiser classes work on ``network.named_params()``, which yields
``(key, param, grad)`` triples. Parameters are changed in place and never rebound,
because layers hold references to them. Every per-step operation writes into a
persistent buffer (``*=``, ``+=``, ``out=``), so a step allocates no full-size
temporaries and float32 parameters stay float32 throughout.

Typical use::

    optimizer = make_optimizer("adamw", learning_rate=1e-3, weight_decay=1e-2)
    schedule = make_schedule("cosine", 1e-3, total_epochs=20, warmup_epochs=1)
    for epoch in range(20):
        for batch in batches:
            ...                                   # forward, backward
            optimizer.step(net.named_params(), lr=schedule(epoch))
"""

from __future__ import annotations

import inspect
import math
import numbers

import numpy as np

from mnist_mlp.errors import ConfigError

__all__ = [
    "sgd_step",
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "OPTIMIZERS",
    "make_optimizer",
    "LRSchedule",
    "SCHEDULES",
    "make_schedule",
]


def sgd_step(param, grad, velocity, learning_rate, momentum=0.0, weight_decay=0.0):
    r"""One SGD step with momentum and L2 weight decay, in place: the seed's rule.

    .. math::
        v \leftarrow \mu v + (g + \lambda w), \qquad w \leftarrow w - \eta v

    with momentum :math:`\mu`, weight decay :math:`\lambda` and learning rate
    :math:`\eta` (the form PyTorch's SGD uses, so results compare one to one).

    Parameters
    ----------
    param, grad, velocity : ndarray, same shape and dtype
        ``param`` and ``velocity`` are updated in place; ``grad`` is left alone.
    learning_rate, momentum, weight_decay : float
    """
    if momentum:
        velocity *= momentum
        velocity += grad
    else:
        velocity[...] = grad
    if weight_decay:
        velocity += weight_decay * param
    param -= learning_rate * velocity


# -- hyperparameter checks ---------------------------------------------------------------


def _real(name, value):
    """``value`` as a finite float, or a ConfigError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConfigError(f"The '{name}' parameter must be a finite real number; got {value!r}.")
    return float(value)


def _positive(name, value):
    if not _real(name, value) > 0:
        raise ConfigError(f"The '{name}' parameter must be > 0; got {value!r}.")
    return float(value)


def _non_negative(name, value):
    if not _real(name, value) >= 0:
        raise ConfigError(f"The '{name}' parameter must be >= 0; got {value!r}.")
    return float(value)


def _unit_interval(name, value):
    """A rate in [0, 1): momentum and Adam's betas (1 would never forget anything)."""
    if not 0 <= _real(name, value) < 1:
        raise ConfigError(f"The '{name}' parameter must be in [0, 1); got {value!r}.")
    return float(value)


def _count(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(f"The '{name}' parameter must be an integer >= {minimum}; got {value!r}.")
    return int(value)


# -- optimisers --------------------------------------------------------------------------


class Optimizer:
    """Base class: per-parameter state buffers, the step counter and checkpointing.

    Subclasses name their state buffers in ``_BUFFERS`` and implement
    ``_update(key, param, grad, lr)``, which changes ``param`` in place.

    Parameters
    ----------
    learning_rate : float
        Base step size :math:`\\eta > 0`; ``step(..., lr=...)`` overrides it for one step.
    weight_decay : float
        :math:`\\lambda \\ge 0`; how it enters the update depends on the subclass.
    """

    name = "optimizer"
    _BUFFERS: tuple[str, ...] = ()

    def __init__(self, learning_rate, weight_decay=0.0):
        self.learning_rate = _positive("learning_rate", learning_rate)
        self.weight_decay = _non_negative("weight_decay", weight_decay)
        self.step_count = 0
        self._state = {buffer: {} for buffer in self._BUFFERS}
        self._scratch = {}  # work arrays, one set per parameter; not part of the state

    def step(self, named_params, lr=None):
        """Update every parameter in place from its gradient.

        Parameters
        ----------
        named_params : iterable of (str, ndarray, ndarray)
            ``(key, param, grad)`` triples, as ``Network.named_params()`` yields them.
            The key identifies the parameter's state between steps.
        lr : float, optional
            Learning rate for this step (a schedule's value); the base rate when None.
            Zero is allowed, so a schedule may end at 0.
        """
        lr = self.learning_rate if lr is None else _non_negative("lr", lr)
        self.step_count += 1
        for key, param, grad in named_params:
            if param.shape != grad.shape:
                raise ValueError(
                    f"{type(self).__name__}: parameter {key!r} has shape {param.shape} "
                    f"but its gradient has shape {grad.shape}."
                )
            self._update(key, param, grad, lr)

    def _update(self, key, param, grad, lr):
        raise NotImplementedError

    def _buffer(self, buffer, key, param):
        """State array ``buffer`` of ``key``: zeros on first use, else the stored one."""
        store = self._state[buffer]
        array = store.get(key)
        if array is None:
            array = store[key] = np.zeros_like(param)
        elif array.shape != param.shape:
            raise ValueError(
                f"{type(self).__name__}: state {buffer}.{key} has shape {array.shape} "
                f"but the parameter has shape {param.shape}."
            )
        elif array.dtype != param.dtype:
            array = store[key] = array.astype(param.dtype)
        return array

    def _work(self, key, param, index=0):
        """Scratch array number ``index`` for ``key``, reused every step."""
        arrays = self._scratch.setdefault(key, [])
        while len(arrays) <= index:
            arrays.append(None)
        work = arrays[index]
        if work is None or work.shape != param.shape or work.dtype != param.dtype:
            work = arrays[index] = np.empty_like(param)
        return work

    def state_dict(self):
        """Everything a resumed run needs, as numpy arrays and scalars.

        Returns
        -------
        dict
            ``"optimizer"`` (the registry name), ``"step"`` (steps taken) and one copy
            per state buffer under ``"<buffer>.<param key>"``, e.g. ``"momentum.layer0.W"``.
            Flat string keys, so the dict can go straight into an ``.npz`` file.
        """
        state = {"optimizer": self.name, "step": self.step_count}
        for buffer, store in self._state.items():
            for key, array in store.items():
                state[f"{buffer}.{key}"] = array.copy()
        return state

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned (or the same read back from ``.npz``).

        Raises
        ------
        ValueError
            If the state belongs to another optimiser or holds unknown entries.
        """
        name = str(np.asarray(state.get("optimizer", self.name)))
        if name != self.name:
            raise ValueError(f"{type(self).__name__}: cannot load the state of a {name!r} optimizer.")
        if "step" not in state:
            raise ValueError(f"{type(self).__name__}: the state has no 'step' entry.")
        buffers = {buffer: {} for buffer in self._BUFFERS}
        for entry, value in state.items():
            if entry in ("optimizer", "step"):
                continue
            buffer, _, key = entry.partition(".")
            if buffer not in buffers or not key:
                raise ValueError(
                    f"{type(self).__name__}: unknown state entry {entry!r}; expected "
                    f"'step' or '<buffer>.<key>' with buffer in {list(self._BUFFERS)}."
                )
            buffers[buffer][key] = np.array(value, copy=True)
        self.step_count = _count("step", int(np.asarray(state["step"])), 0)
        self._state = buffers

    def _hyperparameters(self):
        return {"learning_rate": self.learning_rate, "weight_decay": self.weight_decay}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._hyperparameters().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay.

    The seed's and PyTorch's form, with :math:`d = g + \lambda w`:

    .. math::
        v \leftarrow \mu v + d, \qquad
        w \leftarrow w - \eta v \quad\text{or, with Nesterov,}\quad
        w \leftarrow w - \eta (d + \mu v)

    Without Nesterov the arithmetic is done in the same order as :func:`sgd_step`, so
    the two give bit-identical weights.

    Parameters
    ----------
    learning_rate : float
        :math:`\eta > 0`.
    momentum : float in [0, 1)
        :math:`\mu`; 0 is plain SGD and keeps no velocity.
    nesterov : bool
        Look-ahead momentum (needs ``momentum > 0``).
    weight_decay : float >= 0
        :math:`\lambda`, added to the gradient (L2 regularisation).
    """

    name = "sgd"
    _BUFFERS = ("momentum",)

    def __init__(self, learning_rate, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        self.momentum = _unit_interval("momentum", momentum)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise ConfigError(f"The 'nesterov' parameter must be True or False; got {nesterov!r}.")
        if nesterov and self.momentum == 0:
            raise ConfigError("The 'nesterov' parameter needs momentum > 0; got momentum=0.0.")
        self.nesterov = bool(nesterov)

    def _update(self, key, param, grad, lr):
        work = self._work(key, param)
        if self.momentum == 0:
            # d = g + wd * w, then w -= lr * d; the velocity would just equal d.
            direction = grad
            if self.weight_decay:
                np.multiply(param, self.weight_decay, out=work)
                work += grad
                direction = work
            np.multiply(direction, lr, out=work)
            param -= work
        elif self.nesterov:
            self._nesterov_update(key, param, grad, lr, work)
        else:
            # Same order of operations as sgd_step: v = (mu*v + g) + wd*w, w -= lr*v.
            velocity = self._buffer("momentum", key, param)
            velocity *= self.momentum
            velocity += grad
            if self.weight_decay:
                np.multiply(param, self.weight_decay, out=work)
                velocity += work
            np.multiply(velocity, lr, out=work)
            param -= work

    def _nesterov_update(self, key, param, grad, lr, work):
        velocity = self._buffer("momentum", key, param)
        if self.weight_decay:
            np.multiply(param, self.weight_decay, out=work)
            work += grad
        else:
            np.copyto(work, grad)
        velocity *= self.momentum
        velocity += work                                 # v = mu*v + d
        # w -= lr*(d + mu*v), split in two subtractions so one scratch array suffices.
        work *= lr
        param -= work
        np.multiply(velocity, lr * self.momentum, out=work)
        param -= work

    def _hyperparameters(self):
        return {"learning_rate": self.learning_rate, "momentum": self.momentum,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay}


class Adam(Optimizer):
    r"""Adam (Kingma & Ba) with L2 weight decay added to the gradient, as torch.optim.Adam.

    With :math:`g \leftarrow g + \lambda w` and step count :math:`t`:

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2, \\
        w \leftarrow w - \frac{\eta}{1-\beta_1^t}\,
            \frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}

    The bias corrections make the first step :math:`\eta\,g/(|g| + \epsilon')`, i.e.
    :math:`\eta` times the sign of the gradient.

    Parameters
    ----------
    learning_rate : float
        :math:`\eta > 0`.
    beta1, beta2 : float in [0, 1)
        Decay rates of the first and second moment estimates.
    eps : float > 0
        Added to the denominator so a zero second moment cannot divide by zero.
    weight_decay : float >= 0
        :math:`\lambda`, L2 penalty added to the gradient (coupled to the adaptive scaling;
        see :class:`AdamW` for the decoupled form).
    """

    name = "adam"
    _BUFFERS = ("exp_avg", "exp_avg_sq")
    _decoupled = False

    def __init__(self, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        self.beta1 = _unit_interval("beta1", beta1)
        self.beta2 = _unit_interval("beta2", beta2)
        self.eps = _positive("eps", eps)

    def _update(self, key, param, grad, lr):
        m = self._buffer("exp_avg", key, param)
        v = self._buffer("exp_avg_sq", key, param)
        work = self._work(key, param)
        if self.weight_decay and self._decoupled:
            param *= 1.0 - lr * self.weight_decay           # AdamW: w -= lr*wd*w
        elif self.weight_decay:
            coupled = self._work(key, param, 1)             # Adam: g + wd*w, grad untouched
            np.multiply(param, self.weight_decay, out=coupled)
            coupled += grad
            grad = coupled
        m *= self.beta1                                     # m = b1*m + (1-b1)*g
        np.multiply(grad, 1.0 - self.beta1, out=work)
        m += work
        v *= self.beta2                                     # v = b2*v + (1-b2)*g^2
        np.multiply(grad, grad, out=work)
        work *= 1.0 - self.beta2
        v += work
        # lr/c1 * m / (sqrt(v)/sqrt(c2) + eps) = (lr*sqrt(c2)/c1) * m / (sqrt(v) + eps*sqrt(c2)):
        # the same step with one pass over the array fewer (c = 1 - beta**t).
        t = self.step_count
        root_c2 = math.sqrt(1.0 - self.beta2 ** t)
        np.sqrt(v, out=work)
        work += self.eps * root_c2
        np.divide(m, work, out=work)
        work *= lr * root_c2 / (1.0 - self.beta1 ** t)
        param -= work

    def _hyperparameters(self):
        return {"learning_rate": self.learning_rate, "beta1": self.beta1, "beta2": self.beta2,
                "eps": self.eps, "weight_decay": self.weight_decay}


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW.

    Before the Adam step, and without passing through the moment estimates:

    .. math:: w \leftarrow w (1 - \eta \lambda)

    so the decay is the same for every weight whatever its gradient history.
    Parameters as :class:`Adam`; ``weight_decay`` defaults to 0.01 as in PyTorch.
    """

    name = "adamw"
    _decoupled = True

    def __init__(self, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
        super().__init__(learning_rate, beta1, beta2, eps, weight_decay)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def make_optimizer(name, **hyperparams):
    """Build an optimiser from its registry name and keyword hyperparameters.

    Parameters
    ----------
    name : {"sgd", "adam", "adamw"}
        Case-insensitive.
    **hyperparams
        Passed to the class, e.g. ``learning_rate=0.1, momentum=0.9``.

    Raises
    ------
    ConfigError
        For an unknown name (the message lists the valid ones), a hyperparameter the
        optimiser does not take, or an invalid value.
    """
    key = str(name).strip().lower()
    if key not in OPTIMIZERS:
        raise ConfigError(f"Unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}.")
    cls = OPTIMIZERS[key]
    accepted = [p for p in inspect.signature(cls).parameters]
    for param in hyperparams:
        if param not in accepted:
            raise ConfigError(
                f"The '{param}' parameter is not accepted by the {key!r} optimizer; "
                f"it takes {accepted}."
            )
    return cls(**hyperparams)


# -- learning-rate schedules -------------------------------------------------------------


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
        key = str(name).strip().lower()
        if key not in SCHEDULES:
            raise ConfigError(f"Unknown schedule {name!r}; choose one of {sorted(SCHEDULES)}.")
        self.name = key
        self.base_lr = _positive("base_lr", base_lr)
        self.total_epochs = _count("total_epochs", total_epochs, 1)
        self.warmup_epochs = _count("warmup_epochs", warmup_epochs, 0)
        if self.warmup_epochs >= self.total_epochs:
            raise ConfigError(
                f"The 'warmup_epochs' parameter must be < total_epochs ({self.total_epochs}); "
                f"got {warmup_epochs!r}."
            )
        span = self.total_epochs - self.warmup_epochs
        self.step_size = max(1, span // 3) if step_size is None else _count("step_size", step_size, 1)
        self.gamma = _real("gamma", gamma)
        if not 0 < self.gamma <= 1:
            raise ConfigError(f"The 'gamma' parameter must be in (0, 1]; got {gamma!r}.")

    def __call__(self, epoch):
        r"""The rate for ``epoch`` (0-based, >= 0).

        During warm-up (:math:`e < W`) the rate rises linearly,
        :math:`\eta_0 (e + 1)/(W + 1)`, so the first epoch uses :math:`\eta_0/(W+1)` and
        epoch :math:`W` reaches :math:`\eta_0`. After it the named schedule runs over the
        remaining :math:`T - W` epochs, as if they were a fresh run starting at epoch 0.
        """
        epoch = _real("epoch", epoch)
        if epoch < 0:
            raise ValueError(f"The 'epoch' parameter must be >= 0; got {epoch!r}.")
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
