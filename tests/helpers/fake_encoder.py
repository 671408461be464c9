"""A stand-in text encoder for the embedding cache tests: no model, and a kill on demand."""

from __future__ import annotations

import numpy as np


class Fake:
    """An encoder whose vector of text ``i`` is ``[i, 1, 0, 0]`` normalised; it raises
    (the kill) on its ``fail_on``-th call."""

    model_name = identity = "fake"
    dim = 4

    def __init__(self, fail_on: int | None = None) -> None:
        self.calls, self.seen, self.fail_on = 0, 0, fail_on

    def encode(self, texts, progress=False):
        self.calls += 1
        if self.calls == self.fail_on:
            raise KeyboardInterrupt  # the kill
        self.seen += len(texts)
        return np.array([vector(t) for t in texts], dtype=np.float32)


def vector(text: str) -> np.ndarray:
    v = np.array([float(text.split()[-1]), 1.0, 0.0, 0.0], dtype=np.float32)
    return v / np.linalg.norm(v)
