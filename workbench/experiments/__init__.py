"""Experiments: notebooks through papermill, sweeps over them (the sweep file: spec.py; the
runner: sweeps.py, on an executor: executor.py; MLflow runs: bookkeeping.py; tuning studies:
tuning.py), results read back from MLflow (results.py) and the results page (report.py).

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
from workbench.experiments.spec import SweepError, SweepSpec, Variant, expand, load_sweep
from workbench.experiments.sweeps import Outcome, SweepReport, run_sweep

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
