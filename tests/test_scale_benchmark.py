"""The scale benchmark's smallest point, as CI runs it: every step runs and is measured, the
models learn the synthetic taste, a model over the memory budget is refused in one line
naming one that fits, and the generated section of the doc is replaced (nothing else)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "scale_benchmark.py"


@pytest.mark.slow
@pytest.mark.integration
def test_the_smallest_point_runs_every_step(tmp_path) -> None:
    try:
        import sansa  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("sansa is not installed (apt-get install libsuitesparse-dev; make setup)")
    doc = tmp_path / "scale.md"
    doc.write_text("# Scale\n\nhand-written\n\n<!-- scale-benchmark:begin -->\nold\n"
                   "<!-- scale-benchmark:end -->\n\nmore prose\n")
    # as a user runs it: a script whose steps run in spawned processes
    subprocess.run([sys.executable, str(SCRIPT), "--sizes", "small", "--embed-sample", "256",
                    "--eval-users", "1000", "--memory-budget-gb", "0.9", "--home",
                    str(tmp_path / "home"), "--out", str(tmp_path), "--doc", str(doc)],
                   check=True, capture_output=True, timeout=600)
    [small] = json.loads((tmp_path / "scale.json").read_text())
    assert small["synth"]["items"] == 10_000 and small["prepare"]["test_users"] == 5_000
    assert small["content"]["index_type"] == "flat" and small["content"]["recall_at_10"] == 1
    assert small["content"]["embed_texts_per_s"] > 0
    for model in ("itemknn", "ials", "sansa"):
        assert small[model]["eval_users"] == 1_000
        assert small[model]["ndcg_at_10"] > 1.5 * small["popularity"]["ndcg_at_10"], model
    assert small["ease"]["refused"].startswith("ease needs ~")
    assert "use sansa (~" in small["ease"]["refused"]
    assert small["size"] == "small"
    assert (tmp_path / "scale.png").stat().st_size > 10_000
    text = doc.read_text()
    assert "hand-written" in text and "more prose" in text and "old" not in text
    assert "| ials | train " in text and "| ease | refused: ease needs ~" in text
