"""Experiments: notebooks through papermill, sweeps over them, results read back from MLflow.

::

    from workbench.experiments import execute_notebook, load_sweep, run_sweep, compare_sweep
    execute_notebook("notebooks/03_train_collaborative.ipynb", "out.ipynb", {"model": "mf"})
    report = run_sweep(load_sweep("experiments/movies_default.yaml"), jobs=2)
    table, figure = compare_sweep(load_sweep("experiments/movies_default.yaml"))
"""

from workbench.experiments.notebooks import (
    NOTEBOOKS_DIR,
    NotebookError,
    declared_parameters,
    execute_notebook,
)
from workbench.experiments.results import compare_sweep, results_table, sweep_runs
from workbench.experiments.sweeps import (
    Outcome,
    SweepError,
    SweepReport,
    SweepSpec,
    Variant,
    expand,
    load_sweep,
    run_sweep,
)

__all__ = [
    "NOTEBOOKS_DIR",
    "NotebookError",
    "Outcome",
    "SweepError",
    "SweepReport",
    "SweepSpec",
    "Variant",
    "compare_sweep",
    "declared_parameters",
    "execute_notebook",
    "expand",
    "load_sweep",
    "results_table",
    "run_sweep",
    "sweep_runs",
]
