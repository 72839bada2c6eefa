"""Run every benchmark: ``python -m bench`` (or ``python -m bench workbench`` for one).

A benchmark is a module of this package with a ``main() -> bool`` (True: within target);
sizes come from ``KIPPU_BENCH_*`` variables, described in each module and in
``docs/benchmarks.md``.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

#: Helper modules that are not benchmarks.
NOT_BENCHMARKS = {"generate", "workbench_shared"}


def benchmarks() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name
        for m in pkgutil.iter_modules([str(here)])
        if not m.name.startswith("_") and m.name not in NOT_BENCHMARKS
    )


def main(argv: list[str]) -> int:
    known = benchmarks()
    if any(arg in ("-h", "--help") for arg in argv):
        print(__doc__.strip() + "\n\nBenchmarks: " + ", ".join(known))
        return 0
    if unknown := [name for name in argv if name not in known]:
        print(f"no benchmark {', '.join(unknown)}; choose from {', '.join(known)}")
        return 2
    chosen = argv or known
    ok = True
    for name in chosen:
        print(f"== bench.{name} ==", flush=True)
        module = importlib.import_module(f"bench.{name}")
        ok &= bool(module.main())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
