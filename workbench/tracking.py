"""MLflow tracking: one place that points MLflow at the configured store and opens runs.

The tracking URI comes from :attr:`workbench.settings.Settings.mlflow_uri` (a SQLite store
under ``experiments/`` by default; ``WORKBENCH_MLFLOW_URI`` for a shared server). MLflow's
telemetry is switched off unless the user set it, since the workbench makes no network calls
that a user did not configure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from workbench.settings import Settings, get_settings

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow


def configure(settings: Settings | None = None) -> str:
    """Point MLflow at the settings' tracking URI (creating a local store's folder)."""
    settings = settings or get_settings()
    uri = settings.mlflow_uri
    if uri.startswith("sqlite:///"):
        settings.experiments_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    return uri


def _flat(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{name}."))
        else:
            out[name] = value
    return out


@contextmanager
def start_run(
    experiment: str,
    run_name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    settings: Settings | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """Open an MLflow run in ``experiment`` with ``params`` (nested dicts flattened)."""
    configure(settings)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=run_name, tags=dict(tags or {})) as run:
        if params:
            mlflow.log_params(_flat(params))
        yield run


def log_metrics(metrics: Mapping[str, float | int | bool], step: int | None = None) -> None:
    """Log numeric metrics (booleans as 0/1) to the active run."""
    mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)


def log_figure(figure: Any, name: str) -> None:
    """Save a Matplotlib figure as a PNG artifact of the active run."""
    mlflow.log_figure(figure, f"{name}.png" if not name.endswith(".png") else name)
