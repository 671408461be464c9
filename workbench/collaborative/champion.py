"""The champion: the collaborative model the hybrid, serving and the dashboard load.

The MLflow registry is the source of truth: each dataset's ``<dataset>-collaborative``
registered model carries the alias ``champion``, moved by :func:`promote` when a model's
**validation** NDCG@k beats the holder's. A copy lives in ``models/<dataset>/collaborative/
champion`` (:meth:`Settings.champion_dir`, with a ``champion.json`` naming the version) so
that loading needs no MLflow; :func:`sync_champion` makes that copy match the registry and
:func:`load_champion` falls back to the registry when there is no copy.

Every change of the copy happens under one file lock per dataset and by folder renames
(:func:`workbench.storage.replace_folder`): parallel sweep variants promote one at a time and
a reader sees the old champion or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.collaborative.base import CollaborativeModel
from workbench.collaborative.errors import CollaborativeError
from workbench.errors import first_line
from workbench.settings import Settings, get_settings
from workbench.storage import file_lock, replace_folder

SELECTION_METRIC = "val_full_ndcg_at_10"
"""What the registry's champion alias (and tuning studies) are chosen by."""
ALIAS = "champion"
"""The registry alias of each dataset's champion."""
INFO_FILE = "champion.json"
"""What the local copy says of itself: registered model, version, run, selection figure."""


def registered_name(dataset: str) -> str:
    """The registered model that holds ``dataset``'s collaborative models."""
    return f"{dataset}-collaborative"


def _lock(dataset: str, settings: Settings):
    """The lock every change of ``dataset``'s champion copy holds."""
    return file_lock(settings.champion_dir(dataset).with_name(".champion.lock"))


def validation_id(dataset: str, split: str, manifest: dict[str, Any], rows: int) -> str:
    """What makes two validation NDCG figures comparable: the dataset, the split, its
    manifest (seed and counts) and the number of validation rows."""
    text = json.dumps({"dataset": dataset, "split": split, "manifest": manifest,
                       "rows": rows}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def promote(dataset: str, artifact: str, run_id: str, folder: Path, metrics: dict[str, float],
            k: int = 10, settings: Settings | None = None, validation_id: str = "") -> bool:
    """Register the model logged at ``artifact`` as a version of ``<dataset>-collaborative``
    and move the ``champion`` alias to it when its validation NDCG@k beats the holder's
    (a holder judged on other validation data, ``validation_id``, is beaten by any value);
    then copy ``folder`` to the local champion folder, ``champion.json`` included, in one
    swap. Under the champion's file lock, so parallel sweep variants promote one at a time.
    Returns whether the alias moved."""
    from workbench import tracking

    settings = settings or get_settings()
    selected_by = SELECTION_METRIC.replace("_at_10", f"_at_{k}")
    with _lock(dataset, settings):
        moved, version = tracking.register_if_better(
            registered_name(dataset), artifact, run_id, selected_by, metrics[selected_by],
            alias=ALIAS,
            extra_tags={f"test_full_ndcg_at_{k}": str(metrics.get(f"test_full_ndcg_at_{k}")),
                        "selected_by": selected_by},
            comparable={"validation_id": validation_id}, settings=settings)
        if moved:
            _install(dataset, folder, {
                "registered_model": registered_name(dataset), "version": version,
                "run_id": run_id, "selected_by": selected_by,
                selected_by: metrics[selected_by], "validation_id": validation_id}, settings)
    return moved


def _install(dataset: str, folder: Path, info: dict[str, Any], settings: Settings) -> None:
    """Copy the model ``folder`` to the local champion folder with its ``champion.json``
    (``info`` plus the model's name), in one swap."""
    info = {**info, "model": json.loads((folder / "config.json").read_text())["config"]["model"]}

    def write_info(staged: Path) -> None:
        (staged / INFO_FILE).write_text(json.dumps(info, indent=2, default=str) + "\n")

    replace_folder(folder, settings.champion_dir(dataset), copy=True, prepare=write_info)


def registered_champion(dataset: str, settings: Settings | None = None):
    """The registry's champion version of ``dataset`` (an MLflow ``ModelVersion``), or None
    when none is registered."""
    from workbench import tracking

    return tracking.alias_version(registered_name(dataset), ALIAS, settings or get_settings())


@contextlib.contextmanager
def downloaded(dataset: str, settings: Settings, version: str | None = None) -> Iterator[Path]:
    """The registry's champion of ``dataset`` (or its ``version``), downloaded into a
    temporary folder under ``models/`` that is removed after the block. A missing one is a
    :class:`CollaborativeError` naming the registry and the fix."""
    import mlflow

    from workbench import tracking

    tracking.configure(settings)
    name = registered_name(dataset)
    uri = f"models:/{name}/{version}" if version else f"models:/{name}@{ALIAS}"
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.models_dir, prefix=".champion-") as tmp:
        try:
            path = Path(mlflow.artifacts.download_artifacts(uri, dst_path=tmp))
            problem = "" if (path / "config.json").is_file() else "the download holds no model"
        except Exception as exc:  # MLflow's error, or the files' (a store moved, deleted)
            problem = first_line(exc, type(exc).__name__)
            if not version:
                raise CollaborativeError(
                    f"no champion model {name!r} in the MLflow registry at "
                    f"{settings.mlflow_uri} ({problem}); run `make pipeline` or notebook 03 "
                    f"with register_model=True") from None
        if problem:  # registered, but its files are not where the registry says
            raise CollaborativeError(
                f"champion {name} {f'v{version}' if version else ALIAS} is registered at "
                f"{settings.mlflow_uri} but its files could not be read ({problem}); rerun "
                f"`make pipeline` to register a new one")
        yield path


def sync_champion(dataset: str, settings: Settings | None = None) -> str:
    """Make the local champion folder hold the registry's current champion (downloading it
    when the folder is missing, damaged, or holds another version), under the champion's
    lock. Returns what happened, in words."""
    settings = settings or get_settings()
    name = registered_name(dataset)
    target = settings.champion_dir(dataset)
    with _lock(dataset, settings):
        version = registered_champion(dataset, settings)
        if version is None:
            return f"no champion registered for {dataset}"
        local = champion_info(dataset, settings) or {}
        if str(local.get("version")) == str(version.version) and _loads(target):
            return f"champion {name} v{version.version} already in {target}"
        with downloaded(dataset, settings, version.version) as path:
            selected_by = version.tags.get("selected_by", SELECTION_METRIC)
            _install(dataset, path, {
                "registered_model": name, "version": version.version,
                "run_id": version.run_id, "selected_by": selected_by,
                selected_by: float(version.tags.get(selected_by, "nan")),
                "validation_id": version.tags.get("validation_id", "")}, settings)
    return f"champion {name} v{version.version} copied to {target}"


def _loads(folder: Path) -> bool:
    """Whether a saved model folder loads (a damaged copy is replaced, not trusted)."""
    try:
        CollaborativeModel.load(folder)
    except CollaborativeError:
        return False
    return True


def champion_info(dataset: str, settings: Settings | None = None) -> dict[str, Any] | None:
    """``champion.json`` of the local champion copy (None when there is none)."""
    settings = settings or get_settings()
    try:
        return json.loads((settings.champion_dir(dataset) / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None


def champion_identity(dataset: str, settings: Settings | None = None) -> str:
    """Which champion a job would load, as "champion v<version> run <run id>": the registry's
    alias when the registry has one (the source of truth: a lost or stale local copy does not
    change it), else the local copy's ``champion.json``."""
    settings = settings or get_settings()
    version = registered_champion(dataset, settings)
    if version is not None:
        return f"champion v{version.version} run {version.run_id}"
    info = champion_info(dataset, settings) or {}
    return f"champion v{info.get('version')} run {info.get('run_id')}"


def load_champion(dataset: str, settings: Settings | None = None
                  ) -> tuple[CollaborativeModel, str]:
    """The champion and its label (``champion: ease v3``): the local copy when there is one
    (no MLflow needed), else the registry's, downloaded to a temporary folder and loaded into
    memory (importing MLflow costs about 1.5 s of a cold CLI answer, so only then)."""
    settings = settings or get_settings()
    local = settings.champion_dir(dataset)
    if (local / "config.json").is_file():
        model = CollaborativeModel.load(local)
        info = champion_info(dataset, settings) or {}
        version = f" v{info['version']}" if info.get("version") else ""
        return model, f"champion: {model.config.model}{version}"
    with downloaded(dataset, settings) as path:
        model = CollaborativeModel.load(path)
    return model, f"champion: {model.config.model} (registry)"
