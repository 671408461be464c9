"""Names on the command line: a sweep is named by its file (``experiments/zoo.yaml``), the
file's name (``zoo``, ``movies_default``) or the MLflow experiment its runs go to
(``movies-default``, the sweep file's ``experiment:``). `workbench experiments run`,
`compare`, `best` and `table` accept any of them (docs/sweeps.md#names-sweeps-and-experiments);
`table` also takes an MLflow experiment no sweep file names (runs logged by hand)."""

from __future__ import annotations

from pathlib import Path

from workbench import WorkbenchError
from workbench.settings import CHECKOUT, Settings, get_settings
from workbench.storage import read_yaml


class SweepNotFound(WorkbenchError):
    """No sweep file has that name (a broken file that has it is its own error)."""


def sweep_files(settings: Settings | None = None) -> dict[str, Path]:
    """The sweep files in effect, by name: ``<experiments_dir>/*.yaml`` over the checkout's
    ``experiments/*.yaml``."""
    settings = settings or get_settings()
    found: dict[str, Path] = {}
    for folder in (CHECKOUT / "experiments", settings.experiments_dir):
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            found[path.stem] = path
    return dict(sorted(found.items()))


def sweeps_of(experiment: str, settings: Settings | None = None) -> list[str]:
    """The names of the sweep files whose runs go to MLflow experiment ``experiment``."""
    names = []
    for name, path in sweep_files(settings).items():
        try:
            doc = read_yaml(path, "sweep file", WorkbenchError)
        except WorkbenchError:  # a broken file is reported when it is named
            continue
        if isinstance(doc, dict) and doc.get("experiment") == experiment:
            names.append(name)
    return names


def find_sweep(name: str, settings: Settings | None = None):
    """The sweep ``name`` names (a file path, a sweep file's name, or the MLflow experiment
    of exactly one sweep file), loaded; otherwise an error listing the sweeps."""
    from workbench.experiments.spec import load_sweep

    settings = settings or get_settings()
    files = sweep_files(settings)
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return load_sweep(path)
    if name in files:
        return load_sweep(files[name])
    owners = sweeps_of(name, settings)
    if len(owners) == 1:
        return load_sweep(files[owners[0]])
    if owners:
        raise WorkbenchError(f"MLflow experiment {name!r} is shared by the sweeps "
                             f"{', '.join(owners)}; name one of them")
    raise SweepNotFound(f"no sweep {name!r} (neither a sweep file, nor a sweep's name, nor "
                         f"its MLflow experiment); sweeps: {_listing(files, settings)}")


def find_experiment(name: str, settings: Settings | None = None) -> tuple[str, object | None]:
    """The MLflow experiment ``name`` names and the sweep it belongs to (or None): a sweep
    (as :func:`find_sweep`) gives its experiment; else an MLflow experiment of that name.
    Otherwise an error listing the sweeps and the MLflow experiments."""
    settings = settings or get_settings()
    try:
        spec = find_sweep(name, settings)
    except SweepNotFound:  # a sweep file that is broken says so, not "no such experiment"
        spec = None
    if spec is not None:
        return spec.experiment, spec
    experiments = finished_counts(settings)
    if name in experiments:
        return name, None
    having = {k: v for k, v in experiments.items() if v}
    raise WorkbenchError(f"no sweep or MLflow experiment {name!r}; sweeps: "
                         f"{_listing(sweep_files(settings), settings)}; MLflow experiments "
                         f"with finished runs: {_counts(having)}")


def finished_counts(settings: Settings | None = None) -> dict[str, int]:
    """Each MLflow experiment of the tracking store (sorted by name) with its number of
    finished runs."""
    import mlflow

    from workbench import tracking

    tracking.configure(settings)
    client = mlflow.MlflowClient()
    counts = {}
    for experiment in client.search_experiments():
        runs = client.search_runs([experiment.experiment_id], "attributes.status = 'FINISHED'",
                                  max_results=1000)
        counts[experiment.name] = len(runs)
    return dict(sorted(counts.items()))


def no_finished_runs(experiment: str, sweep: str | None = None,
                     settings: Settings | None = None) -> WorkbenchError:
    """The error for an experiment (or a sweep of it) without finished runs: which command
    records them, and which experiments have some."""
    owners = [sweep] if sweep else sweeps_of(experiment, settings)
    run = f" (`workbench experiments run {owners[0]}` records them)" if owners else ""
    having = {k: v for k, v in finished_counts(settings).items() if v}
    return WorkbenchError(f"MLflow experiment {experiment!r} has no finished runs"
                          + (f" of sweep {sweep!r}" if sweep else "") + run
                          + f"; experiments with finished runs: {_counts(having)}")


def _listing(files: dict[str, Path], settings: Settings | None) -> str:
    """``name (experiment)`` for each sweep file."""
    shown = []
    for name, path in files.items():
        try:
            doc = read_yaml(path, "sweep file", WorkbenchError)
        except WorkbenchError:
            doc = None
        experiment = doc.get("experiment") if isinstance(doc, dict) else None
        shown.append(f"{name} ({experiment})" if experiment else name)
    return ", ".join(shown) or "none"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} ({n} finished)" for name, n in counts.items()) or "none"
