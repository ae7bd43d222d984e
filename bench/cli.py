"""How instant the command line feels: wall time of whole commands, beside floors.

Prints the median wall time of ``irflow --help``, ``irflow case show`` and ``irflow
case advance`` (one step done and the case printed, each run on a case of its own)
next to ``python -c pass`` (the bare interpreter) and ``python -c 'import sqlmodel'``
(the import ``case show`` cannot avoid), measured in the same run, and the ratios.
Aims: ``--help`` under 10x the bare start; ``case show`` within 1.3x the sqlmodel import.

    python bench/cli.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def wall(cmd: list[str], env: dict[str, str], repeat: int) -> float:
    """Median seconds of ``cmd`` over ``repeat`` runs (after one warm-up run)."""
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def wall_each(cmds: list[list[str]], env: dict[str, str]) -> float:
    """Median seconds of the commands, each run once (after the first, a warm-up)."""
    subprocess.run(cmds[0], env=env, check=True, capture_output=True)
    times = []
    for cmd in cmds[1:]:
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs per command (median)")
    args = parser.parse_args()
    py = sys.executable
    irflow = [py, "-m", "irflow.cli.main"]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "IRFLOW_DB": f"sqlite:///{Path(tmp) / 'bench.db'}"}
        subprocess.run([*irflow, "init"], env=env, check=True, capture_output=True)
        # Case 1 for case show; one case a run (and the warm-up's) for case advance.
        for _ in range(args.repeat + 2):
            subprocess.run(
                [*irflow, "case", "open", "--reporter", "sanjo", "--title", "サンプル"],
                env=env,
                check=True,
                capture_output=True,
            )
        advances = [
            [*irflow, "case", "advance", str(n), "detect_anomaly", "--as", "sanjo"]
            for n in range(2, args.repeat + 3)
        ]
        bare = wall([py, "-c", "pass"], env, args.repeat)
        sqlmodel = wall([py, "-c", "import sqlmodel"], env, args.repeat)
        help_ = wall([*irflow, "--help"], env, args.repeat)
        show = wall([*irflow, "case", "show", "1"], env, args.repeat)
        advance = wall_each(advances, env)
    print(f"python {sys.version.split()[0]}, median of {args.repeat} runs")
    print(f"python -c pass           {bare * 1000:7.1f} ms  (floor)")
    print(f"python -c import sqlmodel {sqlmodel * 1000:6.1f} ms  (floor for case show)")
    print(f"irflow --help            {help_ * 1000:7.1f} ms  {help_ / bare:5.1f}x bare (aim < 10x)")
    print(
        f"irflow case show 1       {show * 1000:7.1f} ms  "
        f"{show / sqlmodel:5.2f}x sqlmodel (aim < 1.3x)"
    )
    print(
        f"irflow case advance N    {advance * 1000:7.1f} ms  "
        f"{advance / sqlmodel:5.2f}x sqlmodel (one step done, the case printed)"
    )
    print(f"ratio: {show / sqlmodel:.2f}")


if __name__ == "__main__":
    main()
