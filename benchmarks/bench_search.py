"""Search: index build time, query latency and ranking quality on the shared eval file.

Prints numbers; asserts nothing. ``python -m benchmarks.bench_search [eval.jsonl]``.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval" / "nl_queries.jsonl"
ROUNDS = 50
BUILDS = 5


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print a small report."""
    path = Path(argv[0]) if argv else EVAL
    if not path.exists():
        print(f"eval file not found at {path}; pass its path as the first argument")
        return
    cases = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    from cwm_gateway.search import SearchIndex, natural_language_search, search
    from cwm_generated.registry import OPERATIONS

    builds = []
    for _ in range(BUILDS):
        start = time.perf_counter()
        index = SearchIndex(OPERATIONS)
        builds.append(time.perf_counter() - start)
    print(f"operations:        {len(index.operations)}")
    print(
        f"index build:       median {statistics.median(builds) * 1e3:.1f} ms over {BUILDS} builds"
    )

    search("warm up", 10)
    for name, fn in (("search", search), ("natural_language", natural_language_search)):
        times: list[float] = []
        for _ in range(ROUNDS):
            for case in cases:
                start = time.perf_counter()
                fn(case["q"], 10)
                times.append(time.perf_counter() - start)
        times.sort()
        print(
            f"{name + ' latency:':<26}p50 {_percentile(times, 0.50) * 1e3:.3f} ms, "
            f"p99 {_percentile(times, 0.99) * 1e3:.3f} ms over {len(times)} queries"
        )

        top1 = top5 = 0
        misses = []
        for case in cases:
            keys = [h.key for h in fn(case["q"], 10)]
            rank = next((i for i, k in enumerate(keys) if k in case["expect"]), None)
            top1 += rank == 0
            top5 += rank is not None and rank < 5
            if rank != 0:
                misses.append(f"  rank {rank}: {case['q']!r} (top: {keys[0] if keys else '-'})")
        n = len(cases)
        print(
            f"{name + ' quality:':<26}top-1 {top1}/{n} ({top1 / n:.0%}), "
            f"top-5 {top5}/{n} ({top5 / n:.0%})"
        )
        for line in misses:
            print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
