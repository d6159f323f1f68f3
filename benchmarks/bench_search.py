"""Search: first-search cost, query latency and ranking quality.

Prints numbers; asserts nothing. ``python -m benchmarks.bench_search [eval.jsonl]``.

Quality is printed for the shared eval file, both halves of the held-out set
(``tests/data/search_heldout.jsonl``, tuned on), the second and third dev sets
(``tests/data/search_dev2.jsonl``, ``search_dev3.jsonl``, ``search_dev4.jsonl``, tuned on) and the unseen set
(``tests/data/search_unseen.jsonl``: never tuned on until the #9 generalization session, tuned
on from then; its misses are still not printed here).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval" / "nl_queries.jsonl"
HELD_OUT = ROOT / "tests" / "data" / "search_heldout.jsonl"
UNSEEN = ROOT / "tests" / "data" / "search_unseen.jsonl"
DEV2 = ROOT / "tests" / "data" / "search_dev2.jsonl"
# Written blind (no one read the ranking or ran it on these first): numbers only, never misses.
BLIND = ROOT / "tests" / "data" / "search_blind.jsonl"
DEV3 = ROOT / "tests" / "data" / "search_dev3.jsonl"
DEV4 = ROOT / "tests" / "data" / "search_dev4.jsonl"
ROUNDS = 50
BUILDS = 5
COLD_RUNS = 5

# A fresh interpreter: what the first search costs a server that has the registry loaded.
_COLD = """
import time
from cwm_generated.registry import OPERATIONS
t0 = time.perf_counter()
from cwm_gateway import search
t1 = time.perf_counter()
search.get_index()
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _load(path: Path, split: str | None = None) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if split is None or r.get("split") == split]


def _cold_start() -> None:
    imports, builds = [], []
    for _ in range(COLD_RUNS):
        out = subprocess.run(
            [sys.executable, "-c", _COLD], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout.split()
        imports.append(float(out[0]))
        builds.append(float(out[1]))
    print(
        f"{'first search:':<26}import {statistics.median(imports) * 1e3:.1f} ms + index "
        f"(schemas, vocabulary, build) {statistics.median(builds) * 1e3:.1f} ms "
        f"(median of {COLD_RUNS} fresh processes, registry already imported)"
    )


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print a small report."""
    path = Path(argv[0]) if argv else EVAL
    sets: dict[str, list[dict]] = {}
    if path.exists():
        sets["shared eval"] = _load(path)
    else:
        print(f"eval file not found at {path}; pass its path as the first argument")
    sets["held-out dev"] = _load(HELD_OUT, "dev")
    sets["held-out test"] = _load(HELD_OUT, "test")
    sets["dev2"] = _load(DEV2)
    sets["dev3"] = _load(DEV3)
    sets["dev4"] = _load(DEV4)
    sets["unseen"] = _load(UNSEEN)
    sets["blind"] = _load(BLIND)

    from cwm_gateway.search import SearchIndex, rank
    from cwm_generated.registry import OPERATIONS
    from cwm_generated.schemas import SCHEMAS

    _cold_start()
    builds = []
    for _ in range(BUILDS):
        start = time.perf_counter()
        index = SearchIndex(OPERATIONS, SCHEMAS)
        builds.append(time.perf_counter() - start)
    print(f"operations:        {len(index.operations)}")
    print(
        f"index build:       median {statistics.median(builds) * 1e3:.1f} ms over {BUILDS} builds"
    )

    rank("warm up", 10)
    latency_cases = [c for cases in sets.values() for c in cases]
    for natural in (False, True):
        name = "natural_language" if natural else "search"
        times: list[float] = []
        for _ in range(ROUNDS):
            for case in latency_cases:
                start = time.perf_counter()
                rank(case["q"], 10, natural=natural)
                times.append(time.perf_counter() - start)
        times.sort()
        print(
            f"{name + ' latency:':<26}p50 {_percentile(times, 0.50) * 1e3:.3f} ms, "
            f"p99 {_percentile(times, 0.99) * 1e3:.3f} ms over {len(times)} queries"
        )
        for set_name, cases in sets.items():
            top1 = top5 = 0
            misses = []
            for case in cases:
                keys = [h.key for h in rank(case["q"], 10, natural=natural)]
                pos = next((i for i, k in enumerate(keys) if k in case["expect"]), None)
                top1 += pos == 0
                top5 += pos is not None and pos < 5
                if pos != 0:
                    misses.append(f"  rank {pos}: {case['q']!r} (top: {keys[0] if keys else '-'})")
            n = len(cases)
            print(
                f"{name + ' ' + set_name + ':':<36}top-1 {top1}/{n} ({top1 / n:.0%}), "
                f"top-5 {top5}/{n} ({top5 / n:.0%})"
            )
            if natural and set_name not in ("unseen", "blind"):
                for line in misses:
                    print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
