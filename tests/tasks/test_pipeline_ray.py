"""`workbench pipeline` on Ray (workbench.tasks.pipeline): the sweeps get a RayExecutor only
when an address is given (mocked here: no Ray needed), the local pool otherwise, and an
address where nothing answers is refused in one line before anything runs."""

from __future__ import annotations

from typing import ClassVar

import pytest
from typer.testing import CliRunner

from tests.helpers import free_port
from workbench.cli import app
from workbench.experiments import ray_executor
from workbench.settings import Settings
from workbench.tasks import pipeline

runner = CliRunner()


class FakeRay:
    """Stands in for RayExecutor: records how it was made and whether it was closed."""

    made: ClassVar[list[tuple]] = []

    def __init__(self, address: str, cpus: int | None = None) -> None:
        self.slots, self.closed = 3, False
        FakeRay.made.append((address, cpus, self))

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.closed = True


@pytest.fixture
def recorded(monkeypatch) -> list[tuple]:
    """The executor each dataset's sweep got; the heavy steps and the summary stubbed out."""
    seen: list[tuple] = []

    def run_dataset(name, jobs, settings, log, on_sweep, executor=None):
        seen.append((name, jobs, executor))
        return name, None

    FakeRay.made = []
    monkeypatch.setattr(ray_executor, "RayExecutor", FakeRay)
    monkeypatch.setattr(pipeline, "_run_dataset", run_dataset)
    monkeypatch.setattr(pipeline, "summaries_table", lambda names, settings: "table")
    monkeypatch.setattr(pipeline, "sweep_summary", lambda sweep, settings: "summary")
    return seen


def test_without_an_address_the_sweeps_use_the_local_pool(recorded, settings) -> None:
    pipeline.run_pipeline(["toy", "other"], 2, settings, log=lambda line: None)
    assert recorded == [("toy", 2, None), ("other", 2, None)]  # run_sweep's own pool
    assert FakeRay.made == []


@pytest.mark.parametrize("address, cpus", [("10.0.0.5:6379", None), ("local", 2)])
def test_with_an_address_every_sweep_runs_on_one_ray_executor(recorded, settings, address,
                                                              cpus) -> None:
    lines: list[str] = []
    settings = settings.model_copy(update={"ray_address": address})
    pipeline.run_pipeline(["toy", "other"], 2, settings, log=lines.append)
    [(made_address, made_cpus, executor)] = FakeRay.made
    assert (made_address, made_cpus) == (address, cpus)  # `local`: -j CPUs here
    assert [e for _, _, e in recorded] == [executor, executor]
    assert executor.closed
    assert lines[0] == f"== sweeps run on the Ray cluster at {address} (3 at a time)"


def test_an_unreachable_address_is_refused_in_one_line_before_anything_runs(
        workbench_env) -> None:
    address = f"127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["pipeline", "--dataset", "toy", "--ray", address])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: no Ray cluster answers at {address}")
    assert not (workbench_env.data_dir / "raw" / "toy").exists()  # nothing fetched
    assert not (workbench_env.experiments_dir / "mlflow.db").exists()


def test_the_option_sets_the_address(recorded, workbench_env, monkeypatch) -> None:
    got: list[Settings] = []
    monkeypatch.setattr(pipeline, "run_pipeline",
                        lambda datasets, jobs, settings, **kw: got.append(settings) or
                        pipeline.PipelineResult(["toy"]))
    monkeypatch.setattr(pipeline, "example_request", lambda name, settings: "x")
    result = runner.invoke(app, ["pipeline", "--dataset", "toy", "--ray", "10.0.0.5:6379"])
    assert result.exit_code == 0, result.output
    assert got[0].ray_address == "10.0.0.5:6379"
    assert got[0].home == workbench_env.home
