"""``python -m codegen [--spec PATH] [--out DIR] [--lock PATH] [--check]``."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

from codegen.lock import LOCK_NAME, lock_text, stale_inputs, tool_versions
from codegen.models import run_datamodel_codegen, split_modules
from codegen.spec_loader import SpecError, load_spec, read_spec_bytes
from codegen.writer import diff_files, format_sources, read_tree, write_files, write_text_atomic

ROOT = Path(__file__).resolve().parent.parent


class _Progress:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            elapsed = time.perf_counter() - self.start
            print(f"[{elapsed:6.2f}s] {message}", file=sys.stderr, flush=True)


def generate(spec_path: Path, progress=lambda _m: None) -> tuple[dict[str, str], str]:
    """Build every generated file (formatted) and the lock text for ``spec_path``."""
    progress(f"loading {spec_path}")
    spec = load_spec(spec_path)
    progress(
        f"{spec.title} {spec.version}: {spec.counts['operations']} operations, "
        f"{spec.counts['schemas']} schemas, {len(spec.categories)} categories"
    )
    # jinja2 loads only when something is generated: --check of an unchanged tree needs none of
    # the codegen tools.
    from codegen.render import HEADER, render_package

    progress("running datamodel-code-generator")
    models = split_modules(spec, run_datamodel_codegen(spec), HEADER)
    progress(f"split models into {len(models.sources)} modules")
    files = render_package(spec, models)
    progress(f"rendered {len(files)} files; formatting with ruff")
    files = format_sources(files)
    return files, lock_text(spec, files)


def _needs(missing: list[str]) -> str:
    return (
        f"generating needs {', '.join(missing)}, not installed in this Python. Install them with "
        "pip install -e '.[codegen]' (the test extra has them too), or run nox -s generate / "
        "nox -s check."
    )


def _check_without_tools(
    spec: Path, out: Path, lock_path: Path, lock: str, missing: list[str], progress
) -> int:
    """--check where the codegen tools are not installed: compare with what the lock records."""
    spec_sha256 = hashlib.sha256(read_spec_bytes(spec)).hexdigest()
    stale = stale_inputs(json.loads(lock), spec_sha256, read_tree(out))
    if stale:
        print(
            f"generated output is out of date: changed since generation: {'; '.join(stale)}. "
            f"Regenerate with nox -s generate; {_needs(missing)}",
            file=sys.stderr,
        )
        return 1
    progress(
        f"up to date: spec, generator and {out.name}/ are as {lock_path.name} records "
        f"(not regenerated: {', '.join(missing)} not installed)"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m codegen",
        description="Generate the cwm_generated package (generated/) from ConnectWise's manage.json.",
    )
    parser.add_argument(
        "--spec",
        type=Path,
        default=ROOT / "spec" / "manage.json",
        help="path to manage.json (default: spec/manage.json)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "generated",
        help="output directory (default: generated/)",
    )
    parser.add_argument(
        "--lock",
        type=Path,
        default=None,
        help=f"lock file to write (default: spec/{LOCK_NAME} when --out is the "
        "default, else <out>/../" + LOCK_NAME + ")",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and list the files that would change",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)
    progress = _Progress(args.quiet)
    out = args.out.resolve()
    lock_path = args.lock or (
        ROOT / "spec" / LOCK_NAME
        if out == (ROOT / "generated").resolve()
        else out.parent / LOCK_NAME
    )
    lock_current = lock_path.read_text(encoding="utf-8") if lock_path.exists() else None
    missing = [name for name, version in tool_versions().items() if version is None]
    try:
        if missing and args.check and lock_current is not None:
            return _check_without_tools(args.spec, out, lock_path, lock_current, missing, progress)
        if missing:
            print(f"error: {_needs(missing)}", file=sys.stderr)
            return 2
        files, lock = generate(args.spec, progress)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        drift = diff_files(out, files)
        if lock_current != lock:
            drift.append(str(lock_path))
        if drift:
            print(f"generated output is out of date ({len(drift)} files differ):", file=sys.stderr)
            for rel in drift:
                print(f"  {rel}", file=sys.stderr)
            print("run: nox -s generate (or python -m codegen --spec PATH)", file=sys.stderr)
            return 1
        progress(f"up to date: {len(files)} files match")
        return 0
    changed = write_files(out, files)
    if lock_current != lock:
        write_text_atomic(lock_path, lock)
        changed.append(str(lock_path))
    progress(f"wrote {len(changed)} changed files to {out}" if changed else "no changes")
    return 0
