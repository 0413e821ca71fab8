"""The optimiser contract: per-parameter state buffers, the step counter, checkpointing.

A trainable layer exposes ``params()`` and ``grads()``: dicts with the same keys
(``"W"``, ``"b"``). An optimiser works on ``(key, param, grad)`` triples, as
``Network.named_params()`` yields them, and changes each ``param`` in place, never
rebinding it, because layers hold references to their arrays. Every per-step
operation writes into a persistent buffer (``*=``, ``+=``, ``out=``), so a step
allocates no full-size temporaries and float32 parameters stay float32 throughout.
"""

from __future__ import annotations

import numpy as np

from mnist_mlp import checks
from mnist_mlp.deferred import as_array
from mnist_mlp.errors import DataError

__all__ = ["Optimizer"]


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
    # Whether ``_update`` takes a weight gradient still in factors
    # (:class:`~mnist_mlp.deferred.ProductGrad`); otherwise ``step`` hands it the array.
    _ACCEPTS_PRODUCTS = False

    def __init__(self, learning_rate, weight_decay=0.0):
        self.learning_rate = checks.positive("learning_rate", learning_rate)
        self.weight_decay = checks.non_negative("weight_decay", weight_decay)
        self.step_count = 0
        self._state = {buffer: {} for buffer in self._BUFFERS}
        self._scratch = {}  # work arrays, one set per parameter; not part of the state

    def step(self, named_params, lr=None):
        """Update every parameter in place from its gradient.

        Parameters
        ----------
        named_params : iterable of (str, ndarray, ndarray or ProductGrad)
            ``(key, param, grad)`` triples, as ``Network.named_params()`` yields them.
            The key identifies the parameter's state between steps.
        lr : float, optional
            Learning rate for this step (a schedule's value); the base rate when None.
            Zero is allowed, so a schedule may end at 0.
        """
        lr = self.learning_rate if lr is None else checks.non_negative("lr", lr)
        self.step_count += 1
        for key, param, grad in named_params:
            if not self._ACCEPTS_PRODUCTS:
                grad = as_array(grad)
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
            raise DataError(f"{type(self).__name__}: cannot load the state of a {name!r} optimizer.")
        if "step" not in state:
            raise DataError(f"{type(self).__name__}: the state has no 'step' entry.")
        buffers = {buffer: {} for buffer in self._BUFFERS}
        for entry, value in state.items():
            if entry in ("optimizer", "step"):
                continue
            buffer, _, key = entry.partition(".")
            if buffer not in buffers or not key:
                raise DataError(
                    f"{type(self).__name__}: unknown state entry {entry!r}; expected "
                    f"'step' or '<buffer>.<key>' with buffer in {list(self._BUFFERS)}."
                )
            buffers[buffer][key] = np.array(value, copy=True)
        self.step_count = checks.integer("step", int(np.asarray(state["step"])), 0)
        self._state = buffers

    def _hyperparameters(self):
        return {"learning_rate": self.learning_rate, "weight_decay": self.weight_decay}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._hyperparameters().items())
        return f"{type(self).__name__}({args})"
