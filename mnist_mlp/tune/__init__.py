"""Hyperparameter search with Optuna on the validation split (``mnist-mlp tune``).

The test set is never read while searching: trials load the training files only
and are scored on the validation split carved from them. See :func:`tune`.
Importing this package does not import Optuna; running a search does.
"""

from mnist_mlp.tune.run import make_executor, tune
from mnist_mlp.tune.space import Space, load_space, parse_space

__all__ = ["tune", "make_executor", "Space", "load_space", "parse_space"]
