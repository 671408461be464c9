"""Library output kept off the terminal: TensorFlow's start-up lines go to libraries.log."""

from __future__ import annotations

import os
import subprocess
import sys


def test_keras_start_up_lines_go_to_the_library_log(tmp_path) -> None:
    code = ("from workbench.console import import_keras; import_keras(); "
            "import keras, sys; print('keras', 'keras' in sys.modules); "
            "import tensorflow as tf; tf.get_logger().warning('a later TensorFlow warning')")
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path)}
    env.pop("WORKBENCH_EXPERIMENTS_DIR", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=True)
    assert done.stdout == "keras True\n"
    assert "absl" not in done.stderr and "oneDNN" not in done.stderr, done.stderr
    log = (tmp_path / "experiments" / "runs" / "libraries.log").read_text()
    assert "absl::InitializeLog" in log or "oneDNN" in log
    # TensorFlow's logging handler, created on the redirected stderr during the import,
    # writes later warnings to the log, not to a closed file ("--- Logging error ---")
    assert "Logging error" not in done.stderr, done.stderr
    assert log.rstrip().endswith("a later TensorFlow warning")


def test_a_handler_created_inside_output_to_outlives_the_block(tmp_path) -> None:
    import logging

    from workbench.console import output_to

    logger = logging.getLogger("workbench-test-late-handler")
    logger.propagate = False
    try:
        with output_to(tmp_path / "x.log"):
            logger.addHandler(logging.StreamHandler(sys.stderr))
        logger.warning("after the block")
        assert (tmp_path / "x.log").read_text() == "after the block\n"
    finally:
        logger.handlers.clear()


def test_output_to_restores_the_terminal(tmp_path, capfd) -> None:
    from workbench.console import output_to

    with output_to(tmp_path / "x.log"):
        print("to the log")
        os.write(2, b"from C\n")
    print("to the terminal")
    out, err = capfd.readouterr()
    assert (out, err) == ("to the terminal\n", "")
    assert (tmp_path / "x.log").read_text() == "to the log\nfrom C\n"
