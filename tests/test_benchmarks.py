"""The benchmark scripts stay runnable: each parses ``--help`` after importing what it uses
(a renamed package name or option fails here, not on the day someone wants a figure)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).parents[1] / "benchmarks").glob("*.py"))


def test_there_are_benchmarks() -> None:
    assert len(BENCHMARKS) >= 7


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.stem)
def test_benchmark_prints_its_usage(script: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "argv", [str(script), "--help"])
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(script), run_name="__main__")
    assert stop.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_paper_protocols_table_reads_last_and_best_epoch(tmp_path) -> None:
    """benchmarks/paper_protocols.py: the last epoch is what a user gets; the best epoch on
    the test items is what the papers' code prints; a stopped run says so; the doc's
    generated section is replaced and the rest kept."""
    module = runpy.run_path(str(Path(__file__).parents[1] / "benchmarks" /
                                 "paper_protocols.py"))
    curves = {"gmf": [{"epoch": 1, "hr_at_10": 0.6, "ndcg_at_10": 0.3, "seconds": 1.0}],
              "neumf": [{"epoch": 1, "hr_at_10": 0.70, "ndcg_at_10": 0.42, "seconds": 60.0},
                        {"epoch": 2, "hr_at_10": 0.72, "ndcg_at_10": 0.44, "seconds": 120.0},
                        {"epoch": 3, "hr_at_10": 0.71, "ndcg_at_10": 0.43, "seconds": 180.0}]}
    params = {"epochs": 20}
    done = module["_record"]("neumf", params, "ncf", curves, 6040, 180.0,
                             {"full_hr_at_10": 0.11, "full_ndcg_at_10": 0.055})
    assert done["last"]["epoch"] == 3 and done["best_on_test"]["epoch"] == 2
    sasrec = [dict(row) for row in curves["neumf"]]
    sasrec[1].update({"full_hr_at_10": 0.18, "full_ndcg_at_10": 0.094})  # every 2nd epoch
    stopped = module["_record"]("sasrec", {"epochs": 200}, "sasrec", {"sasrec": sasrec},
                                6034, 180.0)
    assert not stopped["finished"] and stopped["full_epoch"] == 2
    doc = tmp_path / "doc.md"
    doc.write_text(f"before\n{module['BEGIN']}\nold\n{module['END']}\nafter\n")
    module["write_doc"]({"neumf": done, "sasrec": stopped}, doc)
    text = doc.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text
    assert ("| neumf | `ncf` | 0.6840 / 0.4030 (Table 2, 8 factors) | 0.7100 / 0.4300 "
            "| 0.7200 / 0.4400 (epoch 2) | 0.1100 / 0.0550 | 3 of 20 | 3 |") in text
    assert "| gmf (NeuMF's pre-training) | `ncf` | | 0.6000 / 0.3000 |" in text
    assert "| 0.1800 / 0.0940 (epoch 2) | 3 of 200 (stopped) | 3 |" in text
    wide = module["_record"]("neumf64", {"epochs": 20}, "ncf", curves, 6040, 180.0,
                             {"full_hr_at_10": 0.12, "full_ndcg_at_10": 0.06}, "neumf")
    assert wide["kind"] == "neumf" and wide["last"]["epoch"] == 3  # the zoo's neumf, wider
    module["write_doc"]({"neumf64": wide}, doc)
    text = doc.read_text()
    assert "| neumf64 | `ncf` | 0.7300 / 0.4470 (Table 2, 64 factors) | 0.7100 / 0.4300 " in text
    assert "| gmf (NeuMF's pre-training) |" in text and "| neumf (NeuMF" not in text


@pytest.mark.slow
@pytest.mark.integration
def test_paper_protocols_runs_neumf_with_pretraining(workbench_env, tmp_path) -> None:
    """One epoch of each part on a small synthetic dataset: GMF and MLP pre-train, NeuMF
    trains, every epoch is ranked under the NCF protocol, the full ranking is read, and the
    JSON and the doc's section are written."""
    from workbench.data import prepare
    from workbench.data.registry import register_spec
    from workbench.data.synth import SynthSize, write_synthetic

    result = write_synthetic("tinyml", SynthSize(300, 60, 3000, seed=0),
                             workbench_env.raw_dir("tinyml"))
    register_spec(result.spec_file, workbench_env)
    prepare("tinyml", workbench_env)
    script = Path(__file__).parents[1] / "benchmarks" / "paper_protocols.py"
    module = runpy.run_path(str(script))
    doc = tmp_path / "doc.md"
    doc.write_text(f"{module['BEGIN']}\n{module['END']}\n")
    results = tmp_path / "results.json"
    module["main"](["--models", "neumf", "--epochs", "1", "--dataset", "tinyml",
                    "--results", str(results), "--doc", str(doc)])
    import json

    neumf = json.loads(results.read_text())["neumf"]
    assert neumf["finished"] and set(neumf["curves"]) == {"gmf", "mlp", "neumf"}
    assert neumf["users"] == 60 and 0 <= neumf["last"]["hr_at_10"] <= 1
    assert 0 <= neumf["full_ndcg_at_10"] <= neumf["full_hr_at_10"] <= 1
    assert "| neumf | `ncf` | 0.6840 / 0.4030 (Table 2, 8 factors) |" in doc.read_text()
