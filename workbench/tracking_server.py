"""A tracking server several machines can share: ``mlflow server`` on a PostgreSQL backend
store, serving the artifacts itself (``--serve-artifacts``), so workers need no shared
filesystem (``make tracking-server``, ``workbench tracking-server``; docs/cluster.md).

- **PostgreSQL**: Debian's ``initdb`` and ``postgres`` (package ``postgresql``), a cluster in
  a folder (``experiments/.postgres`` by default; created on first use, kept afterwards), on
  127.0.0.1 only (no Unix socket), trust authentication for the local user ``workbench``,
  databases ``mlflow`` (MLflow's store) and ``optuna`` (the tuning studies:
  ``WORKBENCH_OPTUNA_URI``, :func:`optuna_uri`). PostgreSQL refuses to run as root: as
  root, its commands run as the ``postgres`` user, who then owns the folder. Or
  ``backend_store_uri`` names an existing database
  (``postgresql://user:password@host:5432/mlflow``) and none is started.
- **MLflow**: ``mlflow server --backend-store-uri ... --serve-artifacts
  --artifacts-destination FOLDER --host 127.0.0.1 --port PORT``; clients then log with
  ``WORKBENCH_MLFLOW_URI=http://127.0.0.1:PORT`` and upload artifacts through it.

Both run as children of this process, each in its own process group, and are stopped with
it (:func:`tracking_server`); nothing binds to anything but 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from workbench import WorkbenchError

HOST = "127.0.0.1"
DATABASE = "mlflow"
OPTUNA_DATABASE = "optuna"
USER = "workbench"


class TrackingServerError(WorkbenchError):
    """The tracking server or its database could not be started."""


def postgres_uri(port: int, database: str = DATABASE, user: str = USER,
                 host: str = HOST) -> str:
    """The SQLAlchemy URI of MLflow's PostgreSQL store for a local cluster (through
    psycopg2: :func:`with_driver`)."""
    return with_driver(f"postgresql://{user}@{host}:{port}/{database}")


def optuna_uri(port: int, host: str = HOST) -> str:
    """The Optuna storage URI of the tuning studies in a local cluster's ``optuna`` database
    (for ``WORKBENCH_OPTUNA_URI``)."""
    return postgres_uri(port, OPTUNA_DATABASE, host=host)


def with_driver(uri: str) -> str:
    """``postgresql://...`` as ``postgresql+psycopg2://...``: SQLAlchemy 2.1 gives a bare
    ``postgresql://`` to psycopg 3, which is not installed; psycopg2 is. Other URIs as
    they are."""
    return "postgresql+psycopg2://" + uri.removeprefix("postgresql://") if uri.startswith(
        "postgresql://") else uri


def port_in_use(port: int, host: str = HOST) -> bool:
    """Whether something answers on ``host:port``."""
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def _as_postgres(command: list[str]) -> list[str]:
    """``command`` run as the ``postgres`` user when this process is root (PostgreSQL
    refuses to run as root)."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser is None:
        raise TrackingServerError("PostgreSQL cannot run as root and `runuser` is missing; "
                                  "run as another user or pass a backend store URI")
    return [runuser, "-u", "postgres", "--", *command]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise TrackingServerError(
            f"`{name}` is not on PATH: install PostgreSQL (Debian: apt-get install postgresql, "
            f"then add /usr/lib/postgresql/*/bin to PATH) or pass --backend-store-uri")
    return path


def init_postgres(folder: Path) -> bool:
    """Create a PostgreSQL cluster in ``folder`` unless one is there; whether it was created.
    ``initdb`` writes into ``<folder>.partial`` first, so an interrupted one leaves no
    half-made cluster behind."""
    folder = Path(folder).resolve()
    if (folder / "PG_VERSION").is_file():
        return False
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        partial.mkdir(mode=0o700)
        shutil.chown(partial, "postgres", "postgres")
    done = subprocess.run(_as_postgres([
        _tool("initdb"), "-D", str(partial), "-A", "trust", "-U", USER, "-E", "UTF8",
        "--locale=C.UTF-8"]), capture_output=True, text=True)
    if done.returncode:
        shutil.rmtree(partial, ignore_errors=True)
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise TrackingServerError(f"initdb failed for {folder}: {last}")
    partial.rename(folder)
    return True


def _stop(process: subprocess.Popen, signal_number: int = signal.SIGTERM,
          timeout_s: float = 30) -> None:
    """Stop ``process`` and its process group (SIGKILL after ``timeout_s``)."""
    for number in (signal_number, signal.SIGKILL):
        try:
            os.killpg(process.pid, number)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait(ready, process: subprocess.Popen, what: str, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if process.poll() is not None:
            raise TrackingServerError(f"{what} exited at start-up (exit code "
                                      f"{process.returncode}; its log: {log})")
        if time.monotonic() > deadline:
            raise TrackingServerError(f"{what} did not answer within {timeout_s:g} s "
                                      f"(its log: {log})")
        time.sleep(0.3)


@contextmanager
def postgres(folder: Path, port: int, log: Path, timeout_s: float = 60) -> Iterator[str]:
    """Run the PostgreSQL cluster in ``folder`` (created when missing) on 127.0.0.1:``port``
    until the block ends, its output in ``log``; yields the URI of its ``mlflow`` database.
    The ``mlflow`` and ``optuna`` databases are created when missing."""
    import psycopg2

    folder = Path(folder).resolve()
    if port_in_use(port):
        raise TrackingServerError(f"port {port} is in use: choose another PostgreSQL port "
                                  f"(PG_PORT=... / --pg-port)")
    init_postgres(folder)
    with open(log, "ab") as sink:
        process = subprocess.Popen(_as_postgres([
            _tool("postgres"), "-D", str(folder), "-h", HOST, "-p", str(port),
            "-c", "unix_socket_directories=", "-c", "fsync=on"]),
            stdout=sink, stderr=sink, stdin=subprocess.DEVNULL, start_new_session=True)

    def ready() -> bool:
        try:
            psycopg2.connect(host=HOST, port=port, user=USER, dbname="postgres",
                             connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            return False

    try:
        _wait(ready, process, "PostgreSQL", log, timeout_s)
        connection = psycopg2.connect(host=HOST, port=port, user=USER, dbname="postgres")
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                for database in (DATABASE, OPTUNA_DATABASE):
                    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                    if cursor.fetchone() is None:
                        cursor.execute(f"CREATE DATABASE {database}")
        finally:
            connection.close()
        yield postgres_uri(port)
    finally:
        _stop(process, signal.SIGINT)  # PostgreSQL's "fast" shutdown


def mlflow_server_command(backend_store_uri: str, artifacts: Path, port: int,
                          workers: int = 1) -> list[str]:
    """The ``mlflow server`` command line: the backend store, artifacts served through the
    server (``--serve-artifacts`` into ``artifacts``), bound to 127.0.0.1."""
    mlflow = Path(sys.executable).parent / "mlflow"
    return [str(mlflow) if mlflow.is_file() else "mlflow", "server",
            "--backend-store-uri", backend_store_uri, "--serve-artifacts",
            "--artifacts-destination", str(Path(artifacts).resolve()),
            "--host", HOST, "--port", str(port), "--workers", str(workers)]


def server_answers(url: str, timeout_s: float = 2) -> bool:
    """Whether an MLflow tracking server answers on ``url`` (its ``/health``)."""
    import requests

    try:
        return requests.get(f"{url.rstrip('/')}/health", timeout=timeout_s).ok
    except requests.RequestException:
        return False


@contextmanager
def tracking_server(port: int, pg_port: int, pg_data: Path, artifacts: Path, logs: Path,
                    backend_store_uri: str | None = None, timeout_s: float = 120
                    ) -> Iterator[str]:
    """Run PostgreSQL (its cluster in ``pg_data`` on ``pg_port``; none when
    ``backend_store_uri`` names a database) and an ``mlflow server`` on it (artifacts in
    ``artifacts``) on 127.0.0.1:``port`` until the block ends, their logs in ``logs``;
    yields the server's URL (for ``WORKBENCH_MLFLOW_URI``). Both are stopped after, process
    groups and all, also on failure."""
    if port_in_use(port):
        raise TrackingServerError(f"port {port} is in use: choose another tracking server "
                                  f"port (PORT=... / --port)")
    logs, artifacts = Path(logs).resolve(), Path(artifacts).resolve()
    logs.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        backend = (with_driver(backend_store_uri) if backend_store_uri else
                   stack.enter_context(postgres(pg_data, pg_port, logs / "postgres.log")))
        log = logs / "mlflow-server.log"
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
        with open(log, "ab") as sink:
            process = subprocess.Popen(mlflow_server_command(backend, artifacts, port),
                                       stdout=sink, stderr=sink, stdin=subprocess.DEVNULL,
                                       env=env, start_new_session=True)
        stack.callback(_stop, process)
        url = f"http://{HOST}:{port}"
        _wait(lambda: server_answers(url), process, "the MLflow server", log, timeout_s)
        yield url
