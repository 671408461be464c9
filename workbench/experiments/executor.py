"""Where a sweep's notebook runs happen: the :class:`Executor` interface and the local one.

A sweep hands its executor :class:`Job` objects (plain, picklable data: the notebook, the
output path, the parameters, the MLflow tags and the settings as environment variables) and
takes back one :class:`JobResult` per job, in the order they finish. The runner
(:mod:`workbench.experiments.sweeps`) keeps at most :attr:`Executor.slots` jobs submitted at a
time and does all MLflow bookkeeping itself, in its own process, one result at a time; an
executor only runs notebooks.

What an executor guarantees (a cluster executor, the next one, must keep the same promises):

- **A failure is a result, never an exception**: a failing notebook, a crashed kernel or a
  worker process that died (killed for memory, ...) is a ``FAILED`` result with the reason;
  the sweep records it and goes on with the others.
- **Ctrl-C**: a ``KeyboardInterrupt`` may surface from :meth:`~Executor.submit` or
  :meth:`~Executor.next_result` (never half-way through starting a worker); the runner then
  calls :meth:`~Executor.stop`, which ends every running job now, notebook kernels included,
  and drops the queued ones. Workers never print a traceback of their own for it.
- **No kernel outlives its job**: papermill starts one kernel per notebook run and shuts it
  down when the notebook ends, failed or not.

:class:`LocalExecutor` runs one job at a time in this process (``jobs=1``), or ``jobs`` at a
time in a pool of spawned processes (none inherits TensorFlow state).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any, Protocol

from workbench.experiments.notebooks import NotebookError, execute_notebook

KERNEL_LOG = "kernels.log"
"""The variants' kernels write their start-up noise here (``experiments/runs/kernels.log``),
not to the terminal."""


@dataclass(frozen=True)
class Job:
    """One notebook run of a sweep."""

    notebook: str
    output: str
    """Where the executed notebook is written."""
    parameters: dict[str, Any]
    tags: dict[str, str]
    """Tags of the MLflow run the notebook opens (``WORKBENCH_RUN_TAGS``)."""
    env: dict[str, str]
    """The settings (:meth:`workbench.settings.Settings.to_env`) and the progress file."""
    kernel_log: str
    """Where the kernel's own output goes."""


@dataclass(frozen=True)
class JobResult:
    """How a job ended: ``FINISHED`` or ``FAILED`` (with the reason), after ``seconds``;
    ``node``: where it ran, when the executor knows (a Ray node id)."""

    status: str
    seconds: float
    error: str = ""
    node: str = ""


def run_job(job: Job) -> JobResult:
    """Execute one job here (in this process or in a worker): the notebook through papermill
    with the job's environment and run tags, restored afterwards."""
    saved = {k: os.environ.get(k) for k in [*job.env, "WORKBENCH_RUN_TAGS"]}
    os.environ.update(job.env)
    os.environ["WORKBENCH_RUN_TAGS"] = json.dumps(job.tags)
    started = time.perf_counter()
    try:
        execute_notebook(job.notebook, job.output, job.parameters, kernel_log=job.kernel_log)
        return JobResult("FINISHED", time.perf_counter() - started)
    except NotebookError as exc:
        return JobResult("FAILED", time.perf_counter() - started, str(exc))
    except Exception as exc:  # a kernel crash must not stop the sweep
        return JobResult("FAILED", time.perf_counter() - started,
                         f"{type(exc).__name__}: {exc}")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Executor(Protocol):
    """Runs a sweep's jobs (see the module docstring for what it guarantees)."""

    slots: int
    """How many jobs may be submitted and not yet taken back at once."""

    @property
    def running(self) -> int:
        """Jobs submitted whose result has not been taken yet."""

    def submit(self, key: Hashable, job: Job) -> None:
        """Start ``job`` (or queue it); ``key`` names it in :meth:`next_result`."""

    def next_result(self) -> tuple[Hashable, JobResult]:
        """Wait for the next job to end; its key and result."""

    def stop(self) -> None:
        """End every running job now (kernels included) and drop the queued ones."""

    def close(self) -> None:
        """Release the workers once every result has been taken."""


class ExecutorScope:
    """An executor as a context manager: a Ctrl-C inside the block stops it (its jobs
    cancelled), a normal exit closes it. Both executors inherit it."""

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            self.stop()
        else:
            self.close()


class LocalExecutor(ExecutorScope):
    """This machine's executor: ``jobs=1`` runs each job in this process when it is
    submitted; ``jobs>1`` runs them in a pool of ``jobs`` spawned processes (a worker that
    dies breaks the pool: the jobs it held are ``FAILED`` results, and the jobs submitted
    after that run in a fresh pool). Use it as a context manager: a Ctrl-C inside the block
    stops it, a normal exit closes it. ``run`` is what runs a job (:func:`run_job`; a
    module-level function, so a worker can import it)."""

    def __init__(self, jobs: int = 1, run: Callable[[Job], JobResult] = run_job) -> None:
        self.slots, self._run = jobs, run
        self._done: list[tuple[Hashable, JobResult]] = []
        self._futures: dict[Any, Hashable] = {}
        self._pool = self._new_pool() if jobs > 1 else None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.slots, mp_context=get_context("spawn"),
                                   initializer=_ignore_sigint)

    @property
    def running(self) -> int:
        return len(self._done) + len(self._futures)

    def submit(self, key: Hashable, job: Job) -> None:
        if self._pool is None:
            self._done.append((key, self._run(job)))
            return
        try:
            future = _submit(self._pool, self._run, job)
        except BrokenProcessPool:  # a worker died: the jobs the pool held fail with it (their
            self._pool.shutdown(wait=False, cancel_futures=True)  # results say so); the
            self._pool = self._new_pool()  # jobs after it run in a fresh pool
            future = _submit(self._pool, self._run, job)
        self._futures[future] = key

    def next_result(self) -> tuple[Hashable, JobResult]:
        if self._done:
            return self._done.pop(0)
        future = next(as_completed(self._futures))
        return self._futures.pop(future), _result(future)

    def stop(self) -> None:
        if self._pool is not None:
            _stop_pool(self._pool)
            self._pool = None
        self._futures.clear()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None



def _ignore_sigint() -> None:
    """In a worker: Ctrl-C is the parent's to handle (no traceback from every worker).

    The worker starts with SIGINT blocked (see `_submit`), so a Ctrl-C that lands while it
    is still importing stays pending; ignoring it here discards it, then it is unblocked."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _submit(pool, run: Callable[[Job], JobResult], job: Job):
    """``pool.submit(run, job)``, safe from a Ctrl-C in the middle: a submit may spawn a
    worker, and a KeyboardInterrupt raised between starting it and sending it its start-up
    data leaves it to die of an EOFError traceback. So SIGINT is blocked in this thread (the
    worker inherits the mask and cannot die of it before `_ignore_sigint` runs in it) and,
    since another thread may take the signal, Python's handler only notes it meanwhile; a
    Ctrl-C pressed during the submit is raised once it is done."""
    import signal

    pressed: list[int] = []
    handler = signal.signal(signal.SIGINT, lambda number, frame: pressed.append(number))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return pool.submit(run, job)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        signal.signal(signal.SIGINT, handler)
        if pressed:
            raise KeyboardInterrupt


def _result(future) -> JobResult:
    """A job's result, also when its worker process died."""
    try:
        return future.result()
    except Exception as exc:  # BrokenProcessPool (killed for memory, ...): record, go on
        return JobResult("FAILED", 0.0, f"the worker process running it died "
                                        f"({type(exc).__name__}: {exc})")


def _stop_pool(pool) -> None:
    """Stop a process pool now: its workers and their notebook kernels (own sessions, so a
    Ctrl-C does not reach them) are killed, queued jobs cancelled."""
    import psutil

    workers = list(getattr(pool, "_processes", {}).values())
    for worker in workers:
        try:
            family = psutil.Process(worker.pid).children(recursive=True)
        except psutil.Error:
            family = []
        for process in [*family, psutil.Process(worker.pid)] if worker.is_alive() else family:
            with contextlib.suppress(psutil.Error):
                process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
