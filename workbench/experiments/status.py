"""Status lines beside a sweep's progress bar: what each running variant's training says it is
doing ("selection fit: epoch 3/20, val NDCG@10 0.0512"), read from the file the training task
writes (``WORKBENCH_PROGRESS_FILE``, one per variant) and refreshed once a second."""

from __future__ import annotations

import threading
from pathlib import Path


def _grid_values(variant: str) -> str:
    """A variant's name by its grid values alone, for a narrow status line:
    ``keras.seed=1,dataset=movies,model=neumf`` -> ``1,movies,neumf``; a name without a
    grid stays as it is."""
    _, dot, grid = variant.partition(".")
    if not dot or "=" not in grid:
        return variant
    return ",".join(part.partition("=")[2] or part for part in grid.split(","))


class StatusLines:
    """The status lines of running variants (their ``WORKBENCH_PROGRESS_FILE``, written by
    the training task: "selection fit: epoch 3/20, val NDCG@10 0.0512") shown beside a
    progress bar, refreshed every ``interval`` seconds by a daemon thread; at most ``width``
    characters (80: one variant's line with its validation figure, the longest being
    ``1,ml1m,sasrec: selection fit: epoch 49/100, val NDCG@10 0.0512``; 60 cut it off)."""

    def __init__(self, bar, interval: float = 1.0, width: int = 80) -> None:
        self.bar, self.interval, self.width = bar, interval, width
        self.files: dict[str, Path] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        if not getattr(bar, "disable", True):
            self._thread = threading.Thread(target=self._loop, name="sweep-status",
                                            daemon=True)
            self._thread.start()

    def add(self, name: str, path: Path) -> None:
        """Watch ``path`` for variant ``name`` (a stale file from an earlier run is removed)."""
        path.unlink(missing_ok=True)
        with self._lock:
            self.files[name] = path

    def done(self, name: str) -> None:
        """Stop showing ``name`` and remove its file."""
        with self._lock:
            path = self.files.pop(name, None)
        if path is not None:
            path.unlink(missing_ok=True)

    def text(self) -> str:
        """The current line: ``variant: status; ...`` for the variants that wrote one."""
        with self._lock:
            files = list(self.files.items())
        parts = []
        for name, path in files:
            try:
                status = path.read_text(encoding="utf-8").strip()
            except OSError:
                continue
            if status:
                parts.append((name.rsplit("/", 1)[-1], status))
        text = "; ".join(f"{name}: {status}" for name, status in parts)
        if len(text) > self.width:  # the status matters more than the grid keys' names
            text = "; ".join(f"{_grid_values(name)}: {status}" for name, status in parts)
        return text if len(text) <= self.width else text[:self.width - 3] + "..."

    def _loop(self) -> None:
        shown = ""
        while not self._stop.wait(self.interval):
            text = self.text()
            if text != shown:
                self.bar.set_postfix_str(text, refresh=True)
                shown = text

    def close(self) -> None:
        """Stop the thread and remove the remaining files."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for name in list(self.files):
            self.done(name)
