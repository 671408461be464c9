"""``make dashboard``'s launcher: Voila, started a second sooner.

``python -m workbench.dashboard.serve notebooks/dashboard.ipynb --no-browser ...`` takes
Voila's own options. The one difference from the ``voila`` command: the server process does
not import ``rfc3987_syntax``, which ``jsonschema`` loads for its ``iri`` format checks (via
``jupyter_events``) and which compiles about 35 Lark parsers at import: 1.0-1.1 s of the
server's 2 s of imports on this machine (jupyter-server/jupyter_server#1559,
python-jsonschema/jsonschema#1428). No Jupyter event schema uses the ``iri`` formats, so
nothing is validated differently. The kernels do not import it either way.
"""

from __future__ import annotations

import sys

SKIPPED = ("rfc3987_syntax",)
"""Modules the server process must not import (``import`` raises ImportError, which
``jsonschema`` catches: it then has no ``iri`` format checker)."""


def main(argv: list[str] | None = None) -> None:
    """Run Voila with ``argv`` (default: the command line) without :data:`SKIPPED`."""
    for name in SKIPPED:
        sys.modules.setdefault(name, None)  # type: ignore[assignment]
    from voila.app import main as voila

    voila(argv=sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
