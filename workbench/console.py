"""What libraries print, kept off the terminal: TensorFlow's and absl's start-up lines,
MLflow's INFO lines while a model is logged.

The main job's terminal shows what a person needs (its own progress and results); the rest
goes to :data:`LIBRARY_LOG` under ``<experiments_dir>/runs/`` (the notebook kernels of a sweep
write theirs to ``kernels.log`` beside it), which ``workbench pipeline`` names at the end.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from types import ModuleType

from workbench.settings import Settings, get_settings

LIBRARY_LOG = "libraries.log"
"""This process's library output (``experiments/runs/libraries.log``)."""

_import_lock = threading.Lock()


def library_log(settings: Settings | None = None) -> Path:
    """``<experiments_dir>/runs/libraries.log`` of ``settings``."""
    return (settings or get_settings()).runs_dir / LIBRARY_LOG


@contextmanager
def output_to(log: Path) -> Iterator[None]:
    """Send this process's standard output and error to ``log`` (appended) for the block:
    Python's ``sys.stdout``/``sys.stderr`` and the file descriptors below them, so lines
    printed by C++ libraries go there too."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with open(log, "a", encoding="utf-8", buffering=1) as sink:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            try:
                with redirect_stdout(sink), redirect_stderr(sink):
                    yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                _repoint_handlers(sink, AppendingStream(log))  # while ``sink`` is open
    finally:
        os.close(saved[0])
        os.close(saved[1])


class AppendingStream:
    """A text stream that appends each write to ``path`` (opening it for that write): where
    logging handlers created inside :func:`output_to` write once its block has ended."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, text: str) -> int:
        with open(self.path, "a", encoding="utf-8") as fh:
            return fh.write(text)

    def flush(self) -> None:
        """Nothing to flush: every write is closed."""


def _repoint_handlers(old: object, new: object) -> None:
    """Logging handlers that captured ``old`` as their stream (TensorFlow creates its handler
    on ``sys.stderr`` at import) write to ``new`` instead, so a later warning does not fail
    with "I/O operation on closed file". Handlers attached to no logger (absl's, until
    ``absl.logging.use_absl_handler()``) are not reached."""
    known = list(logging.Logger.manager.loggerDict.values())  # a snapshot: threads add
    loggers = [logging.getLogger(), *(x for x in known if isinstance(x, logging.Logger))]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is old:
                handler.setStream(new)


def import_keras() -> ModuleType:
    """``keras`` (TensorFlow backend), imported once with its start-up lines ("All log
    messages before absl::InitializeLog()", oneDNN's notice) sent to :func:`library_log`."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    with _import_lock:
        if "keras" not in sys.modules:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            try:
                log = library_log()
            except Exception:  # settings that do not load: import loudly rather than fail
                import keras
            else:
                with output_to(log):
                    import keras  # noqa: F401
    return sys.modules["keras"]
