"""HTTP benchmark of the served hybrid: `mlflow models serve` on models:/<dataset>-hybrid@champion.

Starts MLflow's server on a free loopback port (the local environment, as `make serve`),
waits for it, then sends one-request `both` calls ("time travel thriller" + a user) one at a
time (latency p50 / p99 in milliseconds, after a warm-up) and from several concurrent clients
(throughput in requests per second); prints one JSON document.

Target (issue 17): p50 < 50 ms for one `both` request on anime. Prerequisite: `make
pipeline` (which registers the hybrid).

    .venv/bin/python benchmarks/serving_benchmark.py --dataset anime --requests 200 --clients 4
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(port: int, body: bytes) -> float:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", body,
                                     {"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
        assert response.status == 200
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="anime")
    parser.add_argument("--query", default="time travel thriller")
    parser.add_argument("--user", type=int, default=1)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    from workbench import tracking

    port = _free_port()
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking.configure(),
           "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    started = time.perf_counter()
    server = subprocess.Popen(
        [os.path.join(bin_dir, "mlflow"), "models", "serve", "-m",
         f"models:/{args.dataset}-hybrid@champion", "--env-manager", "local", "--host",
         "127.0.0.1", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    body = json.dumps({"dataframe_records": [
        {"query": args.query, "user_id": args.user, "k": 10, "box": "both"}]}).encode()
    try:
        while True:
            try:
                _post(port, body)
                break
            except OSError:
                if server.poll() is not None or time.perf_counter() - started > 300:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.5)
        ready = time.perf_counter() - started
        for _ in range(5):
            _post(port, body)
        latencies = sorted(_post(port, body) * 1000 for _ in range(args.requests))
        with ThreadPoolExecutor(args.clients) as pool:
            t0 = time.perf_counter()
            list(pool.map(lambda _: _post(port, body), range(args.requests)))
            throughput = args.requests / (time.perf_counter() - t0)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print(json.dumps({
        "dataset": args.dataset, "request": "both (content match + AI pick), k=10",
        "server_ready_s": round(ready, 1), "requests": args.requests,
        "latency_ms": {"p50": round(statistics.median(latencies), 1),
                       "p99": round(latencies[int(0.99 * (len(latencies) - 1))], 1),
                       "min": round(latencies[0], 1)},
        "clients": args.clients, "throughput_rps": round(throughput, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
