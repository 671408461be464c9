"""Where sweep jobs run (workbench.experiments.executor): results come back one per job, a
failure is a result, never an exception, even when the worker process dies."""

from __future__ import annotations

import os

import pytest

from workbench.experiments.executor import Job, JobResult, LocalExecutor


def _job(name: str) -> Job:
    return Job(notebook=name, output=f"{name}.ipynb", parameters={}, tags={}, env={},
               kernel_log="kernels.log")


def fake_run(job: Job) -> JobResult:
    """A stand-in for running a notebook: ``ok`` finishes, ``fails`` fails, ``dies`` kills
    its worker process."""
    if job.notebook == "dies":
        os._exit(3)
    if job.notebook == "fails":
        return JobResult("FAILED", 0.0, "the notebook failed")
    return JobResult("FINISHED", 0.0)


def _all(executor: LocalExecutor, names: list[str]) -> dict[str, JobResult]:
    """Run ``names`` as a runner does: never more than ``slots`` jobs submitted at once."""
    todo, results = list(names), {}
    with executor:
        while todo or executor.running:
            while todo and executor.running < executor.slots:
                name = todo.pop(0)
                executor.submit(name, _job(name))
            key, result = executor.next_result()
            results[key] = result
    return results


def test_one_job_at_a_time_in_this_process() -> None:
    results = _all(LocalExecutor(1, run=fake_run), ["ok", "fails", "ok2"])
    assert {k: r.status for k, r in results.items()} == {
        "ok": "FINISHED", "fails": "FAILED", "ok2": "FINISHED"}
    assert results["fails"].error == "the notebook failed"


@pytest.mark.reliability
def test_a_dead_worker_is_a_failed_job_not_a_crash() -> None:
    """A worker killed under a job (out of memory, kill -9) gives the jobs its pool held a
    FAILED result naming it; every job submitted after that runs in a fresh pool (a later
    stage, a study's next trials), so one death never fails the rest of a sweep."""
    executor = LocalExecutor(2, run=fake_run)
    with executor:
        executor.submit("dies", _job("dies"))
        key, result = executor.next_result()
        assert key == "dies" and result.status == "FAILED"
        assert "worker process running it died" in result.error
        for name in ("ok", "ok2", "fails"):
            executor.submit(name, _job(name))
        after = dict(executor.next_result() for _ in range(3))
    assert {k: r.status for k, r in after.items()} == {
        "ok": "FINISHED", "ok2": "FINISHED", "fails": "FAILED"}
    assert after["fails"].error == "the notebook failed"


def test_jobs_beside_a_dying_one_are_results_too() -> None:
    """More jobs than slots, one of them killing its worker: every job gets a result (the
    ones the broken pool held FAILED, naming the dead worker), none an exception."""
    results = _all(LocalExecutor(2, run=fake_run), ["dies", "ok", "ok2", "ok3"])
    assert set(results) == {"dies", "ok", "ok2", "ok3"}
    assert results["dies"].status == "FAILED"
    assert all(r.status == "FINISHED" or "worker process running it died" in r.error
               for r in results.values())


def test_a_dead_worker_is_a_failed_variant_not_a_crash() -> None:
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from workbench.experiments.executor import _result

    future = Future()
    future.set_exception(BrokenProcessPool("killed"))
    result = _result(future)
    assert result.status == "FAILED" and "worker process running it died" in result.error
