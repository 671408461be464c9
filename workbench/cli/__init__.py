"""The ``workbench`` command line (``workbench --help``; every subcommand has ``--help``).

Errors the workbench raises on purpose (:class:`workbench.WorkbenchError`) are printed as one
``error: ...`` line with exit code 1, never as a traceback (:func:`workbench.cli.app.
clean_errors`). One module per group of commands: :mod:`.data`, :mod:`.content`,
:mod:`.models`, :mod:`.experiments`; :mod:`.app` holds the application they register with.
"""

from workbench.cli import content, data, experiments, models  # noqa: F401  (registers)
from workbench.cli.app import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover - console entry point alias
    """Entry point for ``python -m workbench``."""
    app(prog_name="workbench")

