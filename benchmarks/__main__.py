"""Run every benchmark script in this folder (or the ones named on the command line)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    names = argv or sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name.startswith("bench_")
    )
    failed = 0
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        try:
            # Each script parses its own options: give it none, not ours.
            sys.argv = [name]
            importlib.import_module(f"benchmarks.{name}").main()
        except Exception:  # a broken benchmark must not hide the others' numbers
            failed += 1
            traceback.print_exc()
    return 1 if failed else 0


raise SystemExit(main(sys.argv[1:]))
