"""Parameter sweeps: grids of trials (twin runs by default) on a process pool or a Dask cluster.

See :mod:`stablesam.stability.sweeps.spec` for the sweep file, :mod:`stablesam.stability.sweeps.run` for the output
layout and resumption, and :mod:`stablesam.stability.sweeps.executors` for the engines.
"""

from stablesam.core.exports import lazy_exports

# Public name -> the module that defines it; each loads on first use (PEP 562, stablesam.core.exports), so a light
# path (``stablesam --help``, reading a config) does not import torch.
_EXPORTS = {
    **dict.fromkeys(
        ("REPLICATES", "aggregate_sweep", "collect_metrics", "read_table", "summarize_over_seeds"),
        "stablesam.stability.sweeps.aggregate",
    ),
    **dict.fromkeys(("ENGINES", "run_dask", "run_local"), "stablesam.stability.sweeps.executors"),
    **dict.fromkeys(("format_value", "trial_name"), "stablesam.stability.sweeps.naming"),
    **dict.fromkeys(("SweepResult", "plan_sweep", "run_sweep"), "stablesam.stability.sweeps.run"),
    **dict.fromkeys(("SweepSpec", "Trial", "expand", "load_sweep"), "stablesam.stability.sweeps.spec"),
    **dict.fromkeys(
        ("TrialRunner", "TwinTrial", "execute_trial", "read_error", "record_error", "trial_state"),
        "stablesam.stability.sweeps.trial",
    ),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
