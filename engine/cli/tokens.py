"""``ordo token``: API tokens for programs (shown once, stored hashed, revocable)."""

from __future__ import annotations

import argparse

from .. import textfmt
from ..actor import SYSTEM
from .common import CliError, add_db_option, open_for


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("token", help="create, list and revoke API tokens")
    tsub = p.add_subparsers(dest="token_command", metavar="ACTION")
    tsub.required = True
    c = tsub.add_parser("create", help="create a token for USER and print it (only this once)")
    c.add_argument("app")
    c.add_argument("user")
    c.add_argument("--label", help="what the token is for (e.g. the channel or program using it)")
    add_db_option(c)
    c.set_defaults(func=cmd_create)
    ls = tsub.add_parser("list", help="list tokens (never their secret)")
    ls.add_argument("app")
    ls.add_argument("--user", help="only this user's tokens")
    add_db_option(ls)
    ls.set_defaults(func=cmd_list)
    r = tsub.add_parser("revoke", help="revoke a token by its id")
    r.add_argument("app")
    r.add_argument("id", type=int)
    add_db_option(r)
    r.set_defaults(func=cmd_revoke)


def cmd_create(args: argparse.Namespace) -> int:
    from ..credentials import Credentials

    with open_for(args) as app, app.transaction(SYSTEM) as tx:
        info = tx.users.get(args.user)
        if info is None:
            raise CliError(f"no user {args.user!r} (add one with `ordo user add`)")
        if not info.active:
            raise CliError(f"user {args.user!r} is disabled")
        token_id, secret = Credentials(tx.conn).create_token(args.user, tx.now, args.label)
    print(secret)
    print(f"token {token_id} for {args.user}: send it as 'Authorization: Bearer <token>'; it is not shown again")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from ..credentials import Credentials

    with open_for(args) as app, app.engine.connect() as conn:
        rows = [{"id": t.id, "user": t.user, "label": t.label, "created": t.created_at, "last used": t.last_used_at,
                 "revoked": t.revoked_at} for t in Credentials(conn).tokens(args.user)]
    print(textfmt.table(rows))
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from ..credentials import Credentials

    with open_for(args) as app, app.transaction(SYSTEM) as tx:
        Credentials(tx.conn).revoke_token(args.id, tx.now)
    print(f"revoked token {args.id}")
    return 0
