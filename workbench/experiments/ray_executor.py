"""Sweeps on a Ray cluster: :class:`RayExecutor`, the :class:`~workbench.experiments.
executor.Executor` whose jobs are Ray tasks (``workbench experiments run SWEEP --ray
ADDRESS``, or ``WORKBENCH_RAY_ADDRESS``; docs/cluster.md).

Each job is one Ray task (one CPU) that runs the same :func:`~workbench.experiments.
executor.run_job` the local executor runs: papermill inside, the same notebooks, the settings
passed as ``WORKBENCH_*`` variables (:meth:`workbench.settings.Settings.to_env`). The task
adds the id of the Ray node it runs on to the MLflow run's tags (``workbench.node_id``) and
sends the executed notebook back, so the runner can attach it although the worker's disk is
not its own. It keeps the executor's promises:

- **A failure is a result**: a failing notebook is a ``FAILED`` result as on this machine; a
  task whose worker or node is lost is retried by Ray (``max_retries``) on a node still
  there, and a task still lost after that is a ``FAILED`` result naming the loss.
- **Ctrl-C** (:meth:`RayExecutor.stop`) cancels every task with ``force``: Ray kills their
  worker processes, and each notebook kernel, which polls its parent, exits with it.
- **Nothing half-written**: an address that does not answer is refused (:class:`RayUnavailable`,
  one line naming the address and ``ray start --head``) before the sweep opens any run
  (:func:`sweep_executor`, which checks the tracking server and study storage first).

Ray is imported only here, and only when a :class:`RayExecutor` is made: the CLI's cold start
does not pay for it. ``local`` as the address starts a throwaway one-machine Ray instance
(Ray's local mode, measured against the local pool in docs/cluster.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable
from dataclasses import replace
from pathlib import Path
from typing import Any

from workbench.errors import first_line
from workbench.experiments.bookkeeping import TAG_NODE
from workbench.experiments.executor import ExecutorScope, Job, JobResult, run_job
from workbench.ray_connection import (  # noqa: F401 - the names sweeps have imported from here
    LOCAL,
    START_CLUSTER,
    RayUnavailable,
    connect,
    parse_address,
)
from workbench.settings import Settings

DEFAULT_RETRIES = 2
"""How often Ray reruns a task whose worker process or node was lost."""


def sweep_executor(address: str | None, jobs: int, settings: Settings,
                   studies: bool = False) -> RayExecutor | None:
    """The executor sweeps run on (``workbench experiments run``, ``workbench pipeline``):
    None without an ``address`` (the sweep's local pool of ``jobs``); else a connected
    :class:`RayExecutor` (``local``: a throwaway instance with ``jobs`` CPUs). The tracking
    server is checked first, and with ``studies`` the Optuna storage: each refusal one line,
    before the cluster is asked and before any run is opened."""
    if not address:
        return None
    from workbench import tracking
    from workbench.experiments import tuning

    tracking.check_server(settings.mlflow_uri)
    if studies:
        tuning.check_storage(settings.optuna_uri)
    return RayExecutor(address, cpus=jobs if address == LOCAL else None)


def run_on_node(job: Job, run: Callable[[Job], JobResult] = run_job
                ) -> tuple[JobResult, bytes | None]:
    """In a Ray worker: run ``job`` with this node's id among its run tags; its result
    (naming the node) and the executed notebook's bytes (None when there is none)."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    result = run(replace(job, tags={**job.tags, TAG_NODE: node}))
    output = Path(job.output)
    notebook = output.read_bytes() if output.is_file() else None
    return replace(result, node=node), notebook


def _lost(exc: BaseException) -> str:
    """A task that ended in an exception (its worker or node lost past its retries, or
    cancelled) as one line."""
    first = first_line(exc)
    return (f"the Ray task running it was lost ({type(exc).__name__}"
            + (f": {first[:300]}" if first else "") + ")")


class RayExecutor(ExecutorScope):
    """Runs a sweep's jobs as Ray tasks on the cluster at ``address`` (see the module
    docstring). ``slots``: jobs in flight at once (default: the cluster's CPUs, one task
    each; with ``local``, ``cpus`` or this machine's). ``max_retries``: reruns of a task whose
    worker or node was lost. ``run`` is what a task runs (:func:`run_job`; module-level, so
    a worker can import it). It connects when made, so a bad address fails before anything
    else. Use it as a context manager: a Ctrl-C inside the block stops it, a normal exit
    closes it (disconnects, and ends a ``local`` instance)."""

    def __init__(self, address: str, slots: int | None = None, cpus: int | None = None,
                 max_retries: int = DEFAULT_RETRIES,
                 run: Callable[[Job], JobResult] = run_job) -> None:
        import ray

        self.address = address
        self._owned = connect(address, cpus)
        self.slots = slots or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._task = ray.remote(num_cpus=1, max_retries=max_retries)(run_on_node)
        self._run = run
        self._pending: dict[Any, tuple[Hashable, Job]] = {}

    @property
    def running(self) -> int:
        return len(self._pending)

    def submit(self, key: Hashable, job: Job) -> None:
        ref = self._task.remote(job, self._run)
        self._pending[ref] = (key, job)

    def next_result(self) -> tuple[Hashable, JobResult]:
        import ray

        ready, _ = ray.wait(list(self._pending), num_returns=1)
        ref = ready[0]
        key, job = self._pending.pop(ref)
        try:
            result, notebook = ray.get(ref)
        except ray.exceptions.RayError as exc:
            return key, JobResult("FAILED", 0.0, _lost(exc))
        if notebook is not None:
            _keep_notebook(job.output, notebook)
        return key, result

    def stop(self) -> None:
        import ray

        for ref in self._pending:
            with contextlib.suppress(Exception):  # finished meanwhile, or its owner is gone
                ray.cancel(ref, force=True)
        self._pending.clear()
        self.close()

    def close(self) -> None:
        import ray

        if self._owned and ray.is_initialized():
            ray.shutdown()
        self._owned = False



def _keep_notebook(output: str, notebook: bytes) -> None:
    """Write the executed notebook a task sent back where the runner attaches it from
    (atomically; skipped when the worker shared this disk and wrote the same bytes)."""
    from workbench.storage import write_bytes

    path = Path(output)
    if path.is_file() and path.read_bytes() == notebook:
        return
    write_bytes(path, notebook)
