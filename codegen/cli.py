"""``python -m codegen [--spec PATH] [--out DIR] [--lock PATH] [--check]``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from codegen.lock import LOCK_NAME, lock_text
from codegen.models import run_datamodel_codegen, split_modules
from codegen.render import HEADER, render_package
from codegen.spec_loader import SpecError, load_spec
from codegen.writer import diff_files, format_sources, write_files, write_text_atomic

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
    progress("running datamodel-code-generator")
    models = split_modules(spec, run_datamodel_codegen(spec), HEADER)
    progress(f"split models into {len(models.sources)} modules")
    files = render_package(spec, models)
    progress(f"rendered {len(files)} files; formatting with ruff")
    files = format_sources(files)
    return files, lock_text(spec)


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
    try:
        files, lock = generate(args.spec, progress)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lock_current = lock_path.read_text(encoding="utf-8") if lock_path.exists() else None
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
