"""``ordo run``: play a scenario of an app (a scripted walkthrough)."""

from __future__ import annotations

import argparse

from .common import add_create_option, add_db_option, add_lang_option, open_for


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="play a scenario of an app step by step")
    p.add_argument("app", help="app folder (or builtin:NAME)")
    p.add_argument("scenario", help="scenario name")
    add_db_option(p)
    add_create_option(p)
    add_lang_option(p)
    p.add_argument("--seed", type=int, default=7, help="seed for generated data ($seed)")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from ..scenario import run_scenario

    with open_for(args) as app:
        result = run_scenario(app, args.scenario, lang=args.lang, variables={"seed": args.seed})
    print(f"\nscenario {args.scenario}: {result.steps} step(s) done")
    return 0
