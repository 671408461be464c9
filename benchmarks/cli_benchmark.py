"""Cold-process CLI benchmark: how long one `workbench recommend` takes from the shell.

Each repetition starts a fresh Python process (imports, model and index loading, the first
answer), as a person at a terminal does; prints one JSON document with the wall times in
seconds and which heavy frameworks the process imported.

Target (issue 14): `workbench recommend --dataset anime --query ... --user ...` under 5 s on
this 2-core machine. Prerequisite: ``make pipeline``.

    .venv/bin/python benchmarks/cli_benchmark.py --dataset anime --repeat 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

HEAVY = ("tensorflow", "torch", "sentence_transformers", "transformers", "mlflow")
_PROBE = ("import runpy, sys, json\n"
          "sys.argv = ['workbench'] + {args!r}\n"
          "try:\n"
          "    runpy.run_module('workbench', run_name='__main__')\n"
          "except SystemExit:\n"
          "    pass\n"
          "print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)), "
          "file=sys.stderr)\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="anime")
    parser.add_argument("--query", default="time travel thriller")
    parser.add_argument("--user", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    command = ["recommend", "--dataset", args.dataset, "--query", args.query,
               "--user", str(args.user)]
    probe = _PROBE.format(args=command, heavy=HEAVY)
    seconds, imported = [], []
    for _ in range(args.repeat):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              check=True)
        seconds.append(time.perf_counter() - started)
        imported = json.loads(done.stderr.strip().splitlines()[-1])
    print(json.dumps({"command": "workbench " + " ".join(command),
                      "p50_s": round(statistics.median(seconds), 2),
                      "min_s": round(min(seconds), 2), "max_s": round(max(seconds), 2),
                      "runs": [round(s, 2) for s in seconds],
                      "heavy_imports": imported}, indent=2))


if __name__ == "__main__":
    main()
