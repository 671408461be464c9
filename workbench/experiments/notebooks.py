"""Notebook execution through papermill, behind one function of ours.

:func:`execute_notebook` guards against papermill's silent traps before anything runs: a
notebook without a ``parameters`` cell, or a parameter the notebook does not declare, is an
error (papermill would inject it anyway and the notebook would ignore it). A failing cell
becomes a :class:`NotebookError` naming the cell and the error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat

from workbench import WorkbenchError
from workbench.settings import CHECKOUT

NOTEBOOKS_DIR = CHECKOUT / "notebooks"
"""The project's notebooks (code, shipped with the checkout; not under ``WORKBENCH_HOME``)."""


class NotebookError(WorkbenchError):
    """A notebook could not be run or failed; the message names the notebook and the cell."""


def declared_parameters(notebook: str | os.PathLike[str]) -> dict[str, Any]:
    """Names and defaults declared in the notebook's ``parameters`` cell.

    Raises :class:`NotebookError` when the notebook has no cell tagged ``parameters``.
    """
    import papermill

    path = Path(notebook)
    if not path.is_file():
        raise NotebookError(f"notebook {path} does not exist")
    nb = nbformat.read(path, as_version=4)
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        raise NotebookError(
            f"{path.name} has no cell tagged 'parameters'; papermill would ignore every "
            f"parameter. Tag the cell that holds the defaults."
        )
    return {
        name: spec["default"] for name, spec in papermill.inspect_notebook(str(path)).items()
    }


def quiet_kernel_manager(log: Path):
    """A kernel manager class whose kernels write their own stdout/stderr (TensorFlow and
    absl start-up lines, ipykernel's transport warning) to ``log`` (appended) instead of the
    terminal; what cells print still reaches the executed notebook."""
    from jupyter_client.manager import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "ab") as sink:  # the kernel keeps its own copy of the descriptor
                kw["stdout"] = kw["stderr"] = sink
                await super()._async_launch_kernel(kernel_cmd, **kw)

    return QuietKernelManager


def execute_notebook(
    notebook: str | os.PathLike[str],
    output: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    kernel_name: str = "python3",
    start_timeout: int = 120,
    kernel_log: str | os.PathLike[str] | None = None,
) -> Path:
    """Run ``notebook`` with ``parameters`` through papermill, writing the executed copy.

    The kernel inherits this process's environment (``WORKBENCH_*`` settings included) and
    runs in ``cwd`` (default: the notebook's folder). With ``kernel_log``, the kernel's own
    output goes to that file (:func:`quiet_kernel_manager`). Returns the output path.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    path = Path(notebook)
    parameters = dict(parameters or {})
    declared = declared_parameters(path)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise NotebookError(
            f"{path.name} does not declare parameter(s) {unknown}; it declares "
            f"{sorted(declared)}"
        )
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        extra = ({"kernel_manager_class": quiet_kernel_manager(Path(kernel_log))}
                 if kernel_log else {})
        papermill.execute_notebook(
            str(path), str(out), parameters=parameters, kernel_name=kernel_name,
            cwd=str(cwd or path.parent), progress_bar=False, start_timeout=start_timeout,
            **extra,
        )
    except PapermillExecutionError as exc:
        raise NotebookError(
            f"{path.name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue} "
            f"(executed copy: {out})"
        ) from None
    return out
