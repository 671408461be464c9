"""Sweep files for the sweep tests, written into a test's temp folder."""

from __future__ import annotations

from pathlib import Path

TOY_SWEEP = """
experiment: toy-sweep
notebook: 01_data_overview
parameters: {dataset: toy}
compare: [items, users]
variants:
  - name: overview
  - name: broken
    parameters: {dataset: nope}
  - name: popularity
    notebook: 03_train_collaborative
    parameters: {model: popularity, register_model: false, save_model: false}
"""
"""A toy sweep: two overviews (one failing on an unknown dataset) and a popularity model."""


def write_sweep(folder: Path, text: str, name: str = "sweep.yaml") -> Path:
    """Write ``text`` as the sweep file ``folder/name``; its path."""
    path = folder / name
    path.write_text(text)
    return path


def fake_run(job):
    """A stand-in for running a notebook (importable by executor workers, Ray's included):
    ``ok`` finishes, ``fails`` fails, ``dies`` kills its worker process."""
    import os

    from workbench.experiments.executor import JobResult

    if job.notebook == "dies":
        os._exit(3)
    if job.notebook == "fails":
        return JobResult("FAILED", 0.0, "the notebook failed")
    return JobResult("FINISHED", 0.0, node=str(job.tags))
