"""Code generation and import costs of the generated package.

Imports are timed in fresh interpreters with bytecode compiled first, as after a pip install.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT.parent / "shared" / "spec" / "manage.json"
RUNS = 7


def _fresh(code: str) -> tuple[float, float]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    wall, cpu = out.split()
    return float(wall), float(cpu)


#: CPU times of the last :func:`_timed_import` calls, by target (printed beside wall times:
#: on a shared machine the CPU time is the stable measure of the work itself).
CPU: dict[str, float] = {}


def _timed_import(setup: str, target: str) -> float:
    code = (
        f"import time\n{setup}\n_t0 = time.perf_counter()\n_c0 = time.process_time()\n{target}\n"
        "print(time.perf_counter() - _t0, time.process_time() - _c0)\n"
    )
    samples = [_fresh(code) for _ in range(RUNS)]
    walls = sorted(w for w, _ in samples)
    CPU[target] = sorted(c for _, c in samples)[len(samples) // 2] * 1000
    return walls[len(walls) // 2] * 1000


def _cpu(target: str) -> str:
    return f"(cpu {CPU[target]:6.1f} ms)"


def main() -> None:
    spec = Path(os.environ.get("CWM_SPEC", SPEC))
    if spec.exists():
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "codegen",
                    "--spec",
                    str(spec),
                    "--out",
                    str(Path(tmp) / "generated"),
                    "--quiet",
                ],
                cwd=ROOT,
                check=True,
            )
            print(
                f"full generation ({spec.name}):            {time.perf_counter() - t:7.2f} s  (target ≤ 30 s)"
            )
    else:
        print(f"full generation: skipped, no spec at {spec}")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "generated")], check=True)
    base = _timed_import("", "import pydantic")
    print(f"import pydantic (reference):                 {base:7.1f} ms")
    reg = _timed_import("", "import cwm_generated.registry")
    print(
        f"import cwm_generated.registry:               {reg:7.1f} ms  {_cpu('import cwm_generated.registry')}  (target ≤ 50 ms)"
    )
    warm = (
        "from pydantic import BaseModel, ConfigDict, Field, AwareDatetime\n"
        "class _Warm(BaseModel):\n    model_config = ConfigDict(defer_build=True)\n    a: int = 0"
    )
    pyd = _timed_import("", warm)
    print(
        f"pydantic BaseModel machinery, first model:   {pyd:7.1f} ms  (paid once by any pydantic user)"
    )
    cat = _timed_import(warm, "import cwm_generated.models.service")
    print(
        f"import models.service (+_shared):            {cat:7.1f} ms  {_cpu('import cwm_generated.models.service')}  (target ≤ 100 ms)"
    )
    small = _timed_import(warm, "import cwm_generated.models.time")
    print(
        f"import models.time (+_shared):               {small:7.1f} ms  {_cpu('import cwm_generated.models.time')}"
    )
    all_models = (
        "from cwm_generated.registry import CATEGORIES\n"
        "for c in CATEGORIES: importlib.import_module('cwm_generated.models.' + c)"
    )
    every = _timed_import(warm + "\nimport importlib", all_models)
    print(
        f"import every model (830):                    {every:7.1f} ms  {_cpu(all_models)}  (pyconnectwise: ~760 ms for 779)"
    )
    _operations()


def _size(folder: Path) -> tuple[int, int]:
    files = sorted(folder.rglob("*.py"))
    return sum(f.stat().st_size for f in files), sum(
        f.read_text(encoding="utf-8").count("\n") for f in files
    )


#: Every category's operation module, then each one bound to a client (sync and async) with
#: every resource made: what ``client.<category>.<resource>`` costs at most.
_ALL_OPERATIONS = (
    "import importlib\n"
    "from cwm_generated.registry import CATEGORIES\n"
    "mods = [importlib.import_module('cwm_generated.operations.' + c) for c in CATEGORIES]"
)
_BIND_ALL = (
    "for m in mods:\n"
    "    for cat in (m.SYNC_CATEGORY(print), m.ASYNC_CATEGORY(print)):\n"
    "        for r in m.RESOURCES: getattr(cat, r)"
)


def _operations() -> None:
    """Size of generated/ and the cost of the typed operation modules and the client."""
    import cwm_generated

    generated = Path(cwm_generated.__file__).parent
    size, lines = _size(generated)
    ops_size, ops_lines = _size(generated / "operations")
    print(f"generated/ *.py:                 {size / 1e6:7.2f} MB  {lines:8,} lines")
    print(f"generated/operations/*.py:       {ops_size / 1e6:7.2f} MB  {ops_lines:8,} lines")
    ops = _timed_import("", _ALL_OPERATIONS)
    print(f"import every operations module:              {ops:7.1f} ms  {_cpu(_ALL_OPERATIONS)}")
    svc = "import cwm_generated.operations.service"
    one = _timed_import("", svc)
    print(f"import operations.service:                   {one:7.1f} ms  {_cpu(svc)}")
    bind = _timed_import(_ALL_OPERATIONS, _BIND_ALL)
    print(f"bind every category and resource (sync+async): {bind:5.1f} ms  {_cpu(_BIND_ALL)}")
    client = "from cwm_gateway import Client"
    imp = _timed_import("", client)
    print(f"from cwm_gateway import Client:              {imp:7.1f} ms  {_cpu(client)}")
    code = (
        "import tracemalloc\ntracemalloc.start()\n"
        f"{_ALL_OPERATIONS}\n{_BIND_ALL}\n"
        "print(tracemalloc.get_traced_memory()[0] / 1e6)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    print(f"memory, every operations module bound:       {float(out.stdout):7.1f} MB (tracemalloc)")


if __name__ == "__main__":
    main()
