"""``make bench``: run the benchmarks at full size, save and compare with the last result.

Results go to ``benchmarks/results/<date>-<commit>.json`` (pytest-benchmark's JSON). The
newest earlier file committed there is the baseline: each benchmark's median is printed
next to it with the ratio. Commit a results file to make it the next baseline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _commit() -> str:
    try:
        return subprocess.check_output(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, text=True
        ).strip()
    except (OSError, subprocess.CalledProcessError):
        return "nogit"


def _medians(path: Path) -> dict[str, float]:
    data = json.loads(path.read_text())
    return {b["fullname"]: b["stats"]["median"] for b in data.get("benchmarks", [])}


def main(argv: list[str]) -> int:
    RESULTS.mkdir(exist_ok=True)
    earlier = sorted(RESULTS.glob("*.json"))
    out = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-{_commit()}.json"
    env = dict(os.environ, GRIDOPT_BENCH_FULL="1")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(HERE),
        "-q",
        "-p",
        "no:cacheprovider",
        f"--benchmark-json={out}",
        *argv,
    ]
    rc = subprocess.call(cmd, env=env, cwd=HERE.parent)
    if not out.exists():
        return rc or 1
    now = _medians(out)
    if earlier:
        base = _medians(earlier[-1])
        print(f"\ncompared with {earlier[-1].name} (median seconds, new / old):")
        for name, med in sorted(now.items()):
            if name in base and base[name] > 0:
                print(f"  {med:10.4f}  {base[name]:10.4f}  x{med / base[name]:5.2f}  {name}")
            else:
                print(f"  {med:10.4f}  {'-':>10}         {name}")
    print(f"\nresults saved to {out.relative_to(HERE.parent)}")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
