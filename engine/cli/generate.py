"""``ordo generate``: fill a database with a dataset's seeded sample data."""

from __future__ import annotations

import argparse
import sys

from .common import acting_user, add_create_option, add_db_option, add_user_option, open_for


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate seeded sample data from a dataset definition")
    p.add_argument("app", help="app folder (or builtin:NAME)")
    p.add_argument("dataset", help="dataset name, e.g. demo")
    p.add_argument("--seed", type=int, help="random seed (default: the dataset's); the same seed gives the same data")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every record count (default 1.0)")
    p.add_argument("--batch-size", type=int, help="records per transaction")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_db_option(p)
    add_user_option(p)
    add_create_option(p)
    p.set_defaults(func=cmd_generate)


def progress_bar(entity: str, done: int, total: int, width: int = 30) -> None:
    """Draw a one-line progress bar on stderr."""
    filled = int(width * done / total) if total else width
    sys.stderr.write(f"\r  {entity:<24} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def cmd_generate(args: argparse.Namespace) -> int:
    with open_for(args) as app:
        result = app.features["generate"].run(acting_user(args), args.dataset, seed=args.seed, scale=args.scale,
                                              batch_size=args.batch_size,
                                              progress=None if args.quiet else progress_bar)
    print(result.summary())
    for message in result.messages:
        print(f"  refused: {message}", file=sys.stderr)
    return 0
