"""Notebook execution through papermill, behind one function of ours.

:func:`execute_notebook` guards against papermill's silent traps before anything runs: a
notebook without a ``parameters`` cell, or a parameter the notebook does not declare, is an
error (papermill would inject it anyway and the notebook would ignore it). A failing cell
becomes a :class:`NotebookError` naming the cell and the error.

A kernel that dies before it answers its first request is started again (up to
:data:`KERNEL_START_TRIES` times in all): no cell has run, so nothing is repeated. Parallel
sweeps start many kernels at once, and one of them can lose a port race (jupyter_client picks
free ports, then the kernel binds them; another process can take one in between); on a
loaded machine that failed a trial now and then. A kernel that dies every time (a broken
ipykernel) is one error with the last lines of the kernel's own output.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat

from workbench import WorkbenchError
from workbench.settings import CHECKOUT

KERNEL_START_TRIES = 3
"""Starts of a kernel that dies before answering, in all, before the notebook fails."""

_DIED_AT_START = "Kernel died before replying to kernel_info"
"""jupyter_client's message for a kernel whose process ended before it answered."""

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
    log = Path(kernel_log) if kernel_log else None
    for attempt in range(1, KERNEL_START_TRIES + 1):
        try:
            _papermill(path, out, parameters, kernel_name, Path(cwd or path.parent),
                       start_timeout, log)
            return out
        except PapermillExecutionError as exc:
            raise NotebookError(
                f"{path.name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue} "
                f"(executed copy: {out})"
            ) from None
        except RuntimeError as exc:
            if _DIED_AT_START not in str(exc):
                raise
            if attempt == KERNEL_START_TRIES:
                raise NotebookError(
                    f"{path.name}: the {kernel_name} kernel died before it answered, "
                    f"{KERNEL_START_TRIES} starts in a row{_tail(log)}"
                ) from None
    raise AssertionError("unreachable")


def _papermill(path: Path, out: Path, parameters: dict[str, Any], kernel_name: str, cwd: Path,
               start_timeout: int, log: Path | None) -> None:
    import papermill

    extra = {"kernel_manager_class": quiet_kernel_manager(log)} if log else {}
    papermill.execute_notebook(
        str(path), str(out), parameters=parameters, kernel_name=kernel_name, cwd=str(cwd),
        progress_bar=False, start_timeout=start_timeout, **extra,
    )


def _tail(log: Path | None, lines: int = 5) -> str:
    """The last lines of the kernel's own output, for an error message ('' when none)."""
    if log is None or not log.is_file():
        return ""
    text = log.read_text(errors="replace").strip().splitlines()[-lines:]
    return f"; the end of its output ({log}):\n" + "\n".join(text) if text else ""
