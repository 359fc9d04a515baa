"""``python -m benchmarks``: run every ``benchmarks/bench_*.py`` and print one table.

Exits 1 when a budget fails (``--no-fail`` always exits 0). A redis-server is started on
127.0.0.1 for the run unless ``--redis-url`` names one.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
import time
from pathlib import Path

import click

from . import common
from .common import FAIL, Row

logger = logging.getLogger("weblab_ext")

HEADERS = ("what", "measured", "budget", "verdict", "weblablib (quoted in issue 11)")


def bench_modules(only: list[str] | None = None) -> list[str]:
    """Names of the ``bench_*`` modules present, core first.

    :param only: keep these names (``core``, ``tasks`` or ``bench_core``...) only.
    """
    names = sorted(
        info.name
        for info in pkgutil.iter_modules([str(Path(__file__).parent)])
        if info.name.startswith("bench_")
    )
    names.sort(key=lambda name: name != "bench_core")
    if only:
        wanted = {name if name.startswith("bench_") else f"bench_{name}" for name in only}
        names = [name for name in names if name in wanted]
    return names


def run_module(name: str) -> list[Row]:
    """Import ``benchmarks.<name>`` and call its ``run()``; a crash becomes a FAIL row."""
    started = time.perf_counter()
    try:
        module = importlib.import_module(f"{__package__}.{name}")
        rows = list(module.run())
    except Exception as exc:
        logger.exception("benchmark module %s crashed", name)
        return [Row(f"{name}: crashed", f"{type(exc).__name__}: {exc}"[:120], "-", FAIL)]
    click.echo(f"{name}: {len(rows)} rows in {time.perf_counter() - started:.1f} s", err=True)
    return rows


def format_table(rows: list[Row]) -> str:
    """A plain-text table: what | measured | budget | verdict | weblablib's number."""
    cells = [
        HEADERS,
        *((row.what, row.measured, row.budget, row.verdict, row.reference) for row in rows),
    ]
    widths = [max(len(line[column]) for line in cells) for column in range(len(HEADERS))]

    def line(values: tuple[str, ...]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(values) for values in cells[1:])])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print the table; returns the exit status.

    :param argv: command-line arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even when a budget fails")
    parser.add_argument("--redis-url", help="use this Redis instead of starting redis-server")
    parser.add_argument("only", nargs="*", help="run only these modules (core, tasks, ...)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.redis_url:
        common.use_external_redis(args.redis_url)
    rows: list[Row] = []
    try:
        for name in bench_modules(args.only):
            rows.extend(run_module(name))
    finally:
        common.stop_redis()
    click.echo(format_table(rows))
    failed = [row for row in rows if row.failed]
    if failed:
        click.echo(f"{len(failed)} budget(s) failed", err=True)
    return 0 if args.no_fail or not failed else 1


if __name__ == "__main__":
    sys.exit(main())
