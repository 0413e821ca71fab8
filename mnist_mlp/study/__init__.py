"""The study of the seed's report: its spec, the runner, the result store, the stability table.

``experiments.toml`` declares the runs and the groups that compare them
(:mod:`.spec`); :mod:`.runner` trains the missing runs in parallel processes and
:mod:`.store` keeps each run's result, keyed by a hash of its settings.
:mod:`.stability` is Bonus 3's table of naive against stable formulas.
"""

from mnist_mlp.study.spec import GroupSpec, RunSpec, Suite, load_suite, parse_suite
from mnist_mlp.study.store import RunResult, Store, run_key

__all__ = ["GroupSpec", "RunSpec", "Suite", "load_suite", "parse_suite", "RunResult", "Store",
           "run_key"]
