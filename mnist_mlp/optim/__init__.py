"""Update rules for trainable parameters, and learning-rate schedules.

Each optimiser and schedule is declared once, in :data:`OPTIMIZERS` and
:data:`~mnist_mlp.optim.schedules.SCHEDULES`, under the name the command line,
TOML files and model files use.

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

from mnist_mlp import checks
from mnist_mlp.errors import ConfigError
from mnist_mlp.optim.adam import Adam, AdamW
from mnist_mlp.optim.base import Optimizer
from mnist_mlp.optim.schedules import SCHEDULES, LRSchedule, make_schedule
from mnist_mlp.optim.sgd import SGD

__all__ = [
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

# The optimisers by the name users give them.
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
    key = checks.choice("optimizer", str(name).strip().lower(), OPTIMIZERS)
    cls = OPTIMIZERS[key]
    accepted = [p for p in inspect.signature(cls).parameters]
    for param in hyperparams:
        if param not in accepted:
            raise ConfigError(
                f"The '{param}' parameter is not accepted by the {key!r} optimizer; "
                f"it takes {accepted}."
            )
    return cls(**hyperparams)
