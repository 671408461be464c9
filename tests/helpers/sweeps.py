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
