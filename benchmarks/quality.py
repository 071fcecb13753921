"""Solution-quality runner on public instances with known optima.

Usage::

    python benchmarks/quality.py dtdp --data ../shared/benchmarks/dtdp --time-limit 60 --out out/dtdp
    python benchmarks/quality.py cpmp --data ../shared/benchmarks/cpmp --time-limit 10 --out out/cpmp
    python benchmarks/quality.py gap --data ../shared/benchmarks/gap --time-limit 10 --out out/gap
    python benchmarks/quality.py solomon --data ../shared/benchmarks/solomon --time-limit 30 --out out/solomon

Each sub-command lives in its own module (``_quality_partition.py``,
``_quality_assign.py``) and only calls gridopt's public API.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

COMMANDS = {
    "dtdp": "_quality_partition",
    "cpmp": "_quality_partition",
    "gap": "_quality_assign",
    "solomon": "_quality_assign",
}


def select_instances(paths: list[Path], only: str | None) -> list[Path]:
    """The paths whose instance name (or file name) matches one of ``only``'s globs.

    ``only`` is a comma-separated list of globs (``--only``); ``None`` or empty keeps all.

    >>> select_instances([Path("a_G1.graphml"), Path("b_G2.graphml")], "*_G1, x*")
    [PosixPath('a_G1.graphml')]
    """
    globs = [g.strip() for g in (only or "").split(",") if g.strip()]
    if not globs:
        return list(paths)
    return [
        p
        for p in paths
        if any(fnmatch.fnmatch(p.stem, g) or fnmatch.fnmatch(p.name, g) for g in globs)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("--data", type=Path, required=True, help="folder of instances")
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per instance")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--only", default=None, help="globs of instance names to run, comma-separated"
    )
    parser.add_argument("--workers", type=int, default=1, help="search threads per instance (dtdp)")
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"error: {args.data} does not exist", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[args.command])
    args.out.mkdir(parents=True, exist_ok=True)
    return int(module.run(args.command, args) or 0)


if __name__ == "__main__":
    sys.exit(main())
