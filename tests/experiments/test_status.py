"""Status lines beside a sweep's progress bar (workbench.experiments.status) and the progress
file the training task writes."""

from __future__ import annotations

from typer.testing import CliRunner

from workbench import tracking
from workbench.experiments.status import StatusLines
from workbench.settings import Settings

runner = CliRunner()


def test_status_lines_show_running_variants_beside_the_bar(tmp_path) -> None:
    """What running variants last reported, joined and cut to the width, refreshed by a
    thread; a finished variant's line and file go away."""
    import time

    class Bar:
        disable = False
        def __init__(self) -> None:
            self.shown: list[str] = []

        def set_postfix_str(self, text, refresh=True):
            self.shown.append(text)

    bar = Bar()
    status = StatusLines(bar, interval=0.05, width=40)
    (tmp_path / "a.progress").write_text("stale line from an earlier run")
    status.add("stage/a", tmp_path / "a.progress")
    status.add("b", tmp_path / "b.progress")
    assert status.text() == ""  # the stale file was removed; b has written nothing yet
    (tmp_path / "a.progress").write_text("selection fit: epoch 3/20\n")
    (tmp_path / "b.progress").write_text("refit on 1,000 rows")
    assert status.text() == "a: selection fit: epoch 3/20; b: refi..."
    deadline = time.monotonic() + 5
    while not bar.shown and time.monotonic() < deadline:
        time.sleep(0.02)
    assert bar.shown[-1] == status.text()
    status.done("stage/a")
    assert not (tmp_path / "a.progress").exists()
    assert status.text() == "b: refit on 1,000 rows"
    status.close()
    assert not (tmp_path / "b.progress").exists() and not status._thread.is_alive()
    # too wide: the grid keys' names go first, so the epoch count stays readable
    wide = StatusLines(bar, width=60)
    wide.add("zoo/keras.seed=1,dataset=movies,model=neumf", tmp_path / "c.progress")
    (tmp_path / "c.progress").write_text("refit: epoch 6/12, val NDCG@10 0.0512")
    assert wide.text() == "1,movies,neumf: refit: epoch 6/12, val NDCG@10 0.0512"
    wide.close()
    default = StatusLines(bar)  # the default width keeps the longest line's figure
    default.add("zoo/sequential.seed=1,dataset=ml1m,model=sasrec", tmp_path / "d.progress")
    (tmp_path / "d.progress").write_text("selection fit: epoch 49/100, val NDCG@10 0.0512")
    assert default.text().endswith("val NDCG@10 0.0512")
    default.close()


def test_a_progress_file_that_cannot_be_written_never_fails_a_training(tmp_path) -> None:
    """The status line is a courtesy: no progress file set writes nothing; one that cannot
    be written (here a folder) is skipped; a normal one holds the last line only."""

    home = tmp_path / "home"
    tracking.progress_reporter(Settings(home=home, data_mirror=home / "none"))("epoch 1/2")
    assert not list(tmp_path.rglob("*.progress"))
    blocked = tmp_path / "blocked.progress"
    blocked.mkdir()
    report = tracking.progress_reporter(Settings(home=home, data_mirror=home / "none",
                                                 progress_file=blocked))
    report("epoch 1/2")  # no error
    good = tmp_path / "good.progress"
    report = tracking.progress_reporter(Settings(home=home, data_mirror=home / "none",
                                                 progress_file=good))
    report("epoch 1/2")
    report("epoch 2/2\nwith a second line")
    assert good.read_text() == "epoch 2/2 with a second line"
