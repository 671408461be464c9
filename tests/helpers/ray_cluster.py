"""The two-node Ray cluster scenario of tests/experiments/test_ray_cluster.py, run as a script
inside a network namespace where loopback is the only address (Ray would otherwise replace
127.0.0.1 by the host's address)::

    unshare -n sh -c 'ip link set lo up && exec python -m tests.helpers.ray_cluster WORK OUT'

It starts PostgreSQL and an ``mlflow server --serve-artifacts`` on it
(:func:`workbench.tracking_server.tracking_server`; the tuning studies in its ``optuna``
database), a Ray head and one worker node (one CPU each, token auth off in every process, HOME
and Ray's temp dir under ``WORK``), then runs sweeps with ``workbench experiments run --ray``
(the first with a small tuning study beside its variants) and writes what it saw to ``OUT``
(JSON) for the test to check. Every process it starts carries ``WORKBENCH_TEST_CLUSTER`` (the test
kills whatever is left with it) and this script is their subreaper: it kills every
descendant on the way out, also on failure.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
RAY_PORT = 6379
MARKER = "WORKBENCH_TEST_CLUSTER"

SWEEP = """
experiment: cluster
notebook: 03_train_collaborative
parameters: {{dataset: toy, seed: {seed}, save_model: {save}, register_model: {save}}}
variants:
  - name: zoo
    grid:
      model: [{models}]
{study}"""
STUDY = """  - name: knn
    parameters: {model: itemknn, trial: true, tuned: false, save_model: false,
                 register_model: false}
    search: {trials: 2, seed: 3, space: {params.neighbours: {int: [2, 20]}}}
"""
"""A tuning study of two item-kNN trials (cheap: one round on the two nodes)."""


def _become_subreaper() -> None:
    """Orphans of our children (Ray's daemons, kernels) become ours, not init's."""
    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _kill_tree(root: psutil.Process, include_root: bool = True) -> int:
    """SIGKILL ``root``'s descendants (and ``root``); how many."""
    try:
        family = root.children(recursive=True)
    except psutil.Error:
        family = []
    if include_root:
        family.append(root)
    for process in family:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(family, timeout=10)
    return len(family)


def _wait_port(port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port} within {timeout_s} s")


def _ray_node(env: dict[str, str], work: Path, head: bool, log: Path) -> subprocess.Popen:
    """``ray start --block`` for the head or a worker node (one CPU, a custom resource
    naming it), in its own process group."""
    ray = str(Path(sys.executable).parent / "ray")
    common = ["--num-cpus", "1", "--block", "--disable-usage-stats"]
    if head:
        command = [ray, "start", "--head", "--port", str(RAY_PORT), "--node-ip-address",
                   "127.0.0.1", "--include-dashboard", "false", "--temp-dir",
                   str(work / "ray"), "--resources", '{"head": 1}', *common]
    else:
        command = [ray, "start", "--address", f"127.0.0.1:{RAY_PORT}", "--node-ip-address",
                   "127.0.0.1", "--resources", '{"worker": 1}', *common]
    with open(log, "ab") as sink:
        return subprocess.Popen(command, env=env, stdout=sink, stderr=sink,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _node_ids(timeout_s: float = 60) -> dict[str, str]:
    """{"head": id, "worker": id} once both nodes are alive (asked as a driver)."""
    import ray

    ray.init(address=f"127.0.0.1:{RAY_PORT}", logging_level="ERROR", log_to_driver=False)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ids = {role: n["NodeID"] for n in ray.nodes() if n["Alive"]
                   for role in ("head", "worker") if role in n["Resources"]}
            if len(ids) == 2:
                return ids
            time.sleep(0.3)
        raise RuntimeError("the worker node did not join the head")
    finally:
        ray.shutdown()


def _sweep(work: Path, env: dict[str, str], name: str, models: str, seed: int,
           save: bool, study: bool = False) -> list[str]:
    path = work / f"{name}.yaml"
    path.write_text(SWEEP.format(models=models, seed=seed, save=str(save).lower(),
                                 study=STUDY if study else ""))
    return [sys.executable, "-m", "workbench", "experiments", "run", str(path), "--ray",
            f"127.0.0.1:{RAY_PORT}"]


def _run(command: list[str], env: dict[str, str], timeout_s: float = 120) -> dict:
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s,
                          cwd=REPO)
    return {"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr[-3000:],
            "seconds": round(time.monotonic() - started, 1)}


def _runs(url: str) -> list[dict]:
    """Every run of the ``cluster`` experiment on the server: id, status, tags, artifacts."""
    from mlflow import MlflowClient

    client = MlflowClient(url)
    experiment = client.get_experiment_by_name("cluster")
    out = []
    for run in client.search_runs([experiment.experiment_id], max_results=1000):
        tags = run.data.tags
        files = ([f.path for f in client.list_artifacts(run.info.run_id, "notebook")]
                 if "workbench.variant" in tags else [])
        out.append({"id": run.info.run_id, "status": run.info.status, "tags": tags,
                    "notebook": files, "artifact_uri": run.info.artifact_uri})
    return out


def _studies(storage: str) -> dict[str, list[str]]:
    """Every tuning study in the Optuna storage: its trials' states."""
    import optuna

    return {summary.study_name: [t.state.name for t in optuna.load_study(
        study_name=summary.study_name, storage=storage).trials]
        for summary in optuna.get_all_study_summaries(storage)}


def _orphan(url: str) -> str:
    """A parent run left RUNNING by a sweep process that is gone (a dead pid here)."""
    from mlflow import MlflowClient

    from workbench.experiments.bookkeeping import TAG_RUNNER, TAG_SWEEP, TAG_SWEEP_PARENT

    client = MlflowClient(url)
    experiment = client.get_experiment_by_name("cluster")
    dead = subprocess.Popen(["true"])
    dead.wait()
    run = client.create_run(experiment.experiment_id, run_name="orphan", tags={
        TAG_SWEEP: "first", TAG_SWEEP_PARENT: "true",
        TAG_RUNNER: f"{socket.gethostname()}:{dead.pid}"})
    return run.info.run_id


def _champion(url: str) -> dict:
    from mlflow import MlflowClient

    try:
        version = MlflowClient(url).get_model_version_by_alias("toy-collaborative",
                                                               "champion")
    except Exception as exc:
        return {"error": str(exc)[:300]}
    return {"version": version.version, "source": version.source}


def _kill_worker_mid_run(node: subprocess.Popen, sweep: subprocess.Popen,
                         timeout_s: float = 90) -> dict:
    """Once a notebook kernel runs on the worker node, kill the node: every process of it
    (raylet, workers, the kernel), as a lost machine would go."""
    root = psutil.Process(node.pid)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and sweep.poll() is None:
        kernels = [p for p in root.children(recursive=True)
                   if "ipykernel" in " ".join(_cmdline(p))]
        if kernels:
            time.sleep(1.0)  # let it get into the notebook
            return {"killed": _kill_tree(root), "kernel_seen": True}
        time.sleep(0.2)
    return {"killed": 0, "kernel_seen": False}


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def main(work: Path, out: Path) -> None:
    from workbench.tracking_server import optuna_uri, tracking_server

    _become_subreaper()
    started = time.monotonic()
    report: dict = {"steps": {}}
    home = work / "home"
    env = {**os.environ, "HOME": str(work / "user"), "RAY_AUTH_MODE": "disabled",
           "RAY_USAGE_STATS_ENABLED": "0", "WORKBENCH_HOME": str(home),
           "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [
               os.environ.get("PYTHONPATH")])]),
           # a lost node is noticed in a few seconds, not thirty
           "RAY_health_check_period_ms": "1000", "RAY_health_check_timeout_ms": "1000",
           "RAY_health_check_failure_threshold": "3",
           "RAY_health_check_initial_delay_ms": "0"}
    (work / "user").mkdir(exist_ok=True)
    os.environ.update(env)
    nodes: list[subprocess.Popen] = []

    def step(name: str) -> None:
        report["steps"][name] = round(time.monotonic() - started, 1)

    try:
        (work / "logs").mkdir()
        # the head boots while the data is prepared and the tracking server starts
        nodes.append(_ray_node(env, work, True, work / "logs" / "head.log"))
        prepared = _run([sys.executable, "-m", "workbench", "data", "prepare", "toy"], env)
        assert prepared["rc"] == 0, prepared
        step("data prepared")
        with tracking_server(5000, 5433, work / "postgres", work / "artifacts",
                             work / "logs") as url:
            step("tracking server up")
            env["WORKBENCH_MLFLOW_URI"] = url
            env["WORKBENCH_OPTUNA_URI"] = optuna_uri(5433)
            _wait_port(RAY_PORT)
            nodes.append(_ray_node(env, work, False, work / "logs" / "worker.log"))
            report["nodes"] = _node_ids()
            step("ray cluster up")

            first = _sweep(work, env, "first", "popularity, itemknn, ease", 1, True,
                           study=True)
            report["first"] = _run(first, env)
            step("first sweep")
            report["first_runs"] = _runs(url)
            report["studies"] = _studies(env["WORKBENCH_OPTUNA_URI"])
            report["champion"] = _champion(url)
            report["orphan"] = _orphan(url)
            report["rerun"] = _run(first, env)
            step("rerun")
            report["rerun_runs"] = _runs(url)

            second = subprocess.Popen(_sweep(work, env, "second", "popularity, itemknn", 2,
                                             False), env=env, cwd=REPO, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            report["kill"] = _kill_worker_mid_run(nodes[1], second)
            step("worker killed")
            stdout, stderr = second.communicate(timeout=150)
            report["second"] = {"rc": second.returncode, "stdout": stdout,
                                "stderr": stderr[-3000:]}
            step("second sweep")
            report["second_runs"] = _runs(url)
    finally:
        for node in nodes:  # the head (and what is left of the worker)
            with contextlib.suppress(psutil.Error):
                _kill_tree(psutil.Process(node.pid))
        report["left_over"] = _kill_tree(psutil.Process(), include_root=False)
        report["seconds"] = round(time.monotonic() - started, 1)
        out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(143))
    main(Path(sys.argv[1]), Path(sys.argv[2]))
