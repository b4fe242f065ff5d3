"""Parameter sweeps: grids of trials (twin runs by default) on a process pool or a Dask cluster.

See :mod:`stablesam.stability.sweeps.spec` for the sweep file, :mod:`stablesam.stability.sweeps.run` for the output
layout and resumption, and :mod:`stablesam.stability.sweeps.executors` for the engines.
"""

from stablesam.stability.sweeps.aggregate import aggregate_sweep, collect_metrics, read_table, summarize_over_seeds
from stablesam.stability.sweeps.executors import ENGINES
from stablesam.stability.sweeps.naming import format_value, trial_name
from stablesam.stability.sweeps.run import SweepResult, plan_sweep, run_sweep
from stablesam.stability.sweeps.spec import SweepSpec, Trial, expand, load_sweep
from stablesam.stability.sweeps.trial import TrialRunner, TwinTrial, execute_trial, trial_state

__all__ = [
    "ENGINES",
    "SweepResult",
    "SweepSpec",
    "Trial",
    "TrialRunner",
    "TwinTrial",
    "aggregate_sweep",
    "collect_metrics",
    "execute_trial",
    "expand",
    "format_value",
    "load_sweep",
    "plan_sweep",
    "read_table",
    "run_sweep",
    "summarize_over_seeds",
    "trial_name",
    "trial_state",
]
