"""The one settings object that decides every path.

Every path the workbench reads or writes comes from :class:`Settings`. Values are taken, in
order of precedence, from keyword arguments, environment variables (prefix ``WORKBENCH_``, for
example ``WORKBENCH_HOME`` or ``WORKBENCH_DATA_MIRROR``), a ``.env`` file in the working
directory, and the defaults below. Nothing else in the package reads the environment for paths.

Defaults:

- ``home``: the project checkout that holds this package (an editable install), else the
  current directory.
- ``data_dir`` = ``home/data``, ``models_dir`` = ``home/models``,
  ``experiments_dir`` = ``home/experiments``.
- ``data_mirror``: ``home/../shared/data`` when that folder exists, else none (fetch then
  downloads from the public origin).
- ``mlflow_uri``: ``sqlite:///<experiments_dir>/mlflow.db`` (MLflow 3 refuses a plain
  file store); ``WORKBENCH_MLFLOW_URI`` points everything at a tracking server instead.
- ``optuna_uri``: ``sqlite:///<experiments_dir>/optuna.db``, the tuning studies (so an
  interrupted search resumes).
- ``ray_address``: none (sweeps run on the local process pool); a Ray cluster's address
  runs them there (docs/cluster.md).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

CHECKOUT = Path(__file__).resolve().parents[1]
"""The folder holding this package: in a checkout, the notebooks (``notebooks/``) and the
shipped sweep files, tuned values and query sets (``experiments/``)."""


def _default_home() -> Path:
    """The checkout holding this package when it is installed editable, else the cwd."""
    if (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "workbench").is_dir():
        return CHECKOUT
    return Path.cwd()


class Settings(BaseSettings):
    """Paths and global defaults, overridable by ``WORKBENCH_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="WORKBENCH_", env_file=".env", extra="ignore")

    home: Path = _default_home()
    """Project root; the other paths default to folders under it."""
    data_dir: Path | None = None
    """Raw and processed data (``raw/<dataset>``, ``processed/<dataset>``)."""
    models_dir: Path | None = None
    """Trained models and indexes."""
    experiments_dir: Path | None = None
    """Sweep definitions, executed notebooks (``runs/``) and the default MLflow store."""
    datasets_dir: Path | None = None
    """The user's own datasets, one spec file each (``<name>.yaml``; ``workbench data add``
    puts them there)."""
    encoder_cache: Path | None = None
    """Where the int8 text encoder's ONNX graph is built once and kept (default
    ``<models_dir>/cache/onnx``); homes may share one."""
    data_mirror: Path | None = None
    """A folder laid out like ``../shared/data``; fetch copies from it before downloading."""
    mlflow_uri: str | None = None
    """MLflow tracking URI; default is a SQLite store under ``experiments_dir``."""
    optuna_uri: str | None = None
    """Optuna storage of the sweeps' tuning studies; default is a SQLite file under
    ``experiments_dir``."""
    ray_address: str | None = None
    """The Ray cluster sweeps run their variants on (``HOST:PORT`` of ``ray start --head``,
    ``auto``, or ``local`` for a throwaway instance here; ``WORKBENCH_RAY_ADDRESS``, or
    ``workbench experiments run --ray``). Unset: the local process pool."""
    download_timeout_s: float = 60.0
    """Timeout for one HTTP request when fetching from the public origin."""
    seed: int = 42
    """Default seed for splits and sampling."""
    memory_budget_gb: float | None = None
    """Memory a model may use while it trains (``WORKBENCH_MEMORY_BUDGET_GB``); a model whose
    estimate exceeds it is refused before it starts, naming one that fits
    (:mod:`workbench.collaborative.capacity`). Unset: 75% of the machine's memory."""
    tmdb_url: str = "https://api.themoviedb.org/3"
    """TMDB API base (movie metadata; the key comes from ``TMDB_API_KEY``)."""
    jikan_url: str = "https://api.jikan.moe/v4"
    """Jikan (MyAnimeList) API base (anime metadata; no key)."""
    provider_timeout_s: float = 10.0
    """Timeout of one metadata request."""
    provider_retries: int = 3
    """Retries (with exponential backoff, honouring Retry-After) on 429, 5xx and timeouts."""
    provider_min_interval_s: float = 0.0
    """Minimum seconds between two requests to one provider (Jikan: at least 0.35)."""
    self_heal: bool = False
    """Let the dashboard patch missing details of the results it shows from the provider (a
    network call; off unless asked for, like every provider use)."""
    dashboard_datasets: list[str] = ["movies", "anime"]
    """Datasets the dashboard offers, the first shown first (JSON in
    ``WORKBENCH_DASHBOARD_DATASETS``)."""
    progress_file: Path | None = None
    """Where a training job writes a one-line status as it goes ("selection fit: epoch 3/20,
    val NDCG@10 0.051"; ``WORKBENCH_PROGRESS_FILE``). The sweep runner sets it for each
    variant's kernel and shows the line beside its progress bar; unset, nothing is written."""
    run_tags: dict[str, str] = {}
    """Tags added to every MLflow run this process opens (JSON in ``WORKBENCH_RUN_TAGS``).
    The sweep runner sets it for each variant's kernel: the parent run id, the sweep, the
    variant and its parameter hash."""

    @model_validator(mode="after")
    def _derive_paths(self) -> Settings:
        self.home = self.home.expanduser().resolve()
        self.data_dir = (self.data_dir or self.home / "data").expanduser().resolve()
        self.models_dir = (self.models_dir or self.home / "models").expanduser().resolve()
        self.experiments_dir = (
            (self.experiments_dir or self.home / "experiments").expanduser().resolve()
        )
        self.datasets_dir = (self.datasets_dir or self.home / "datasets").expanduser().resolve()
        self.encoder_cache = (
            (self.encoder_cache or self.models_dir / "cache" / "onnx").expanduser().resolve()
        )
        if self.data_mirror is None:
            shared = self.home.parent / "shared" / "data"
            self.data_mirror = shared.resolve() if shared.is_dir() else None
        else:
            self.data_mirror = self.data_mirror.expanduser().resolve()
        if self.mlflow_uri is None:
            self.mlflow_uri = f"sqlite:///{self.experiments_dir / 'mlflow.db'}"
        if self.optuna_uri is None:
            self.optuna_uri = f"sqlite:///{self.experiments_dir / 'optuna.db'}"
        return self

    # -- the layout: every path the workbench builds under the folders above ----------------

    def raw_dir(self, dataset: str) -> Path:
        """Folder of the verified raw files of ``dataset``."""
        return self.data_dir / "raw" / dataset

    def processed_dir(self, dataset: str) -> Path:
        """Folder of the prepared, validated tables of ``dataset``."""
        return self.data_dir / "processed" / dataset

    def patches_file(self, dataset: str) -> Path:
        """Self-healing's patches of ``dataset``'s item details: ``data/patches/<dataset>.json``."""
        return self.data_dir / "patches" / f"{dataset}.json"

    def spec_file(self, dataset: str) -> Path:
        """The spec of a user's own dataset: ``<datasets_dir>/<dataset>.yaml``."""
        return self.datasets_dir / f"{dataset}.yaml"

    def content_dir(self, dataset: str) -> Path:
        """The content engine's artifacts of ``dataset`` (index, autoencoder, BM25 cache)."""
        return self.models_dir / dataset / "content"

    def index_file(self, dataset: str) -> Path:
        """The FAISS index of ``dataset`` with its manifest: ``content/index.npz``."""
        return self.content_dir(dataset) / "index.npz"

    def model_dir(self, dataset: str, name: str) -> Path:
        """A saved collaborative model of ``dataset``: ``models/<dataset>/collaborative/<name>``
        (``<model>-<objective>``, or ``champion`` for the registry's champion)."""
        return self.models_dir / dataset / "collaborative" / name

    def champion_dir(self, dataset: str) -> Path:
        """The local copy of ``dataset``'s champion, loaded without MLflow."""
        return self.model_dir(dataset, "champion")

    @property
    def cache_dir(self) -> Path:
        """Caches that may be deleted at any time (embeddings, provider answers)."""
        return self.models_dir / "cache"

    @property
    def http_cache_dir(self) -> Path:
        """The metadata providers' answers (:class:`workbench.enrich.http.CachedHttp`)."""
        return self.cache_dir / "http"

    @property
    def runs_dir(self) -> Path:
        """Executed notebooks of sweeps, the kernels' and libraries' logs, the CLI's error log."""
        return self.experiments_dir / "runs"

    @property
    def artifacts_dir(self) -> Path:
        """Where MLflow stores the artifacts of a SQLite store: ``mlartifacts/`` beside the
        store's file, so they follow ``mlflow_uri`` (the default store: ``experiments_dir``'s
        ``mlartifacts/``)."""
        uri = self.mlflow_uri or ""
        if uri.startswith("sqlite:///"):
            return Path(uri.removeprefix("sqlite:///")).expanduser().resolve().parent / \
                "mlartifacts"
        return self.experiments_dir / "mlartifacts"

    def sweep_file(self, name: str) -> Path:
        """A sweep definition: ``<experiments_dir>/<name>.yaml``."""
        return self.experiments_dir / f"{name}.yaml"

    def tuned_file(self, dataset: str) -> Path:
        """Tuned hyperparameters of ``dataset``'s models: ``experiments/tuned/<dataset>.yaml``."""
        return self.experiments_dir / "tuned" / f"{dataset}.yaml"

    def queries_file(self, dataset: str) -> Path:
        """A user's own query set of ``dataset``: ``experiments/queries/<dataset>.yaml``."""
        return self.experiments_dir / "queries" / f"{dataset}.yaml"

    def in_effect(self, path: Path) -> Path:
        """A file under ``experiments_dir`` when the user has one there, else the copy the
        checkout ships at the same place under its ``experiments/`` (tuned values, query
        sets): ``settings.in_effect(settings.tuned_file("movies"))``. A path elsewhere is
        returned as it is."""
        if path.is_file() or not path.is_relative_to(self.experiments_dir):
            return path
        return CHECKOUT / "experiments" / path.relative_to(self.experiments_dir)

    # -- passing the settings on -------------------------------------------------------------

    def to_env(self) -> dict[str, str]:
        """Every field as the ``WORKBENCH_*`` environment variables that rebuild these settings
        in another process (a sweep's notebook kernels, a CLI subprocess): ``Settings()`` there
        equals this object. Unset optional fields (no mirror, no progress file) are left out."""
        env = {}
        for name, value in self.model_dump(mode="json").items():
            if value is None:
                continue
            env[f"WORKBENCH_{name.upper()}"] = (json.dumps(value) if isinstance(value, list | dict)
                                               else str(value))
        return env


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment.

    Library functions take ``settings`` as an argument and fall back to this; tests pass their
    own :class:`Settings` instead of patching globals (or call ``get_settings.cache_clear()``).
    """
    return Settings()
