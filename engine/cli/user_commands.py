"""``ordo user``: manage users, roles and groups, passwords, and whether a user is enabled."""

from __future__ import annotations

import argparse
import sys

from .. import textfmt
from .common import (
    CliError,
    acting_user,
    add_create_option,
    add_db_option,
    add_user_option,
    open_for,
    read_json_arg,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("user", help="manage users, their roles and groups")
    usub = p.add_subparsers(dest="user_command", metavar="ACTION")
    usub.required = True

    a = usub.add_parser("add", help="create a user or change their settings")
    a.add_argument("app")
    a.add_argument("name")
    a.add_argument("--email")
    a.add_argument("--display-name")
    a.add_argument("--role", action="append", default=[], help="grant a role (repeatable)")
    a.add_argument("--group", action="append", default=[], help="add to a group (repeatable)")
    a.add_argument("--attrs", help="JSON object of attributes (e.g. {\"region\": \"north\"})")
    a.add_argument("--unavailable", action="store_true", help="mark as not available for assignments")
    a.add_argument("--available", action="store_true", help="mark as available again")
    a.add_argument("--calendar", help="working calendar (a calendar definition) used by assignment rules")
    add_db_option(a)
    add_user_option(a)
    add_create_option(a)
    a.set_defaults(func=cmd_add)

    r = usub.add_parser("revoke", help="remove a role or group from a user")
    r.add_argument("app")
    r.add_argument("name")
    r.add_argument("--role", action="append", default=[])
    r.add_argument("--group", action="append", default=[])
    add_db_option(r)
    add_user_option(r)
    r.set_defaults(func=cmd_revoke)

    ls = usub.add_parser("list", help="list users with roles and groups")
    ls.add_argument("app")
    add_db_option(ls)
    add_user_option(ls)
    ls.set_defaults(func=cmd_list)

    pw = usub.add_parser("passwd", help="set a user's password (asked twice on the terminal; never an argument)")
    pw.add_argument("app")
    pw.add_argument("name")
    pw.add_argument("--password-stdin", action="store_true",
                    help="read the password from the first line of standard input (for scripts)")
    add_db_option(pw)
    add_user_option(pw)
    pw.set_defaults(func=cmd_passwd)

    for action, what in (("disable", "disable a user: no sign-in, no API tokens; their sessions end"),
                         ("enable", "enable a disabled user again")):
        d = usub.add_parser(action, help=what)
        d.add_argument("app")
        d.add_argument("name")
        add_db_option(d)
        add_user_option(d)
        d.set_defaults(func=cmd_enable, active=action == "enable")


def _open(args: argparse.Namespace):
    return open_for(args)


def cmd_add(args: argparse.Namespace) -> int:
    attrs = None
    if args.attrs:
        attrs = read_json_arg(args.attrs, "--attrs", values=True)
        if not isinstance(attrs, dict):
            raise CliError("--attrs must be a JSON object")
    available = False if args.unavailable else (True if args.available else None)
    with _open(args) as app, app.users(acting_user(args)) as users:
        users.save(args.name, email=args.email, display_name=args.display_name, attrs=attrs, available=available,
                   calendar=args.calendar)
        for role in args.role:
            users.grant(args.name, role, "role")
        for group in args.group:
            users.grant(args.name, group, "group")
        info = users.require(args.name)
    print(f"{info.name}: roles {info.roles or '-'}, groups {info.groups or '-'}, "
          f"{'available' if info.available else 'unavailable'}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    with _open(args) as app, app.users(acting_user(args)) as users:
        users.require(args.name)
        for role in args.role:
            users.revoke(args.name, role, "role")
        for group in args.group:
            users.revoke(args.name, group, "group")
    print(f"updated {args.name}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with _open(args) as app, app.users(acting_user(args)) as users:
        rows = [{"name": u.name, "email": u.email, "roles": ",".join(u.roles), "groups": ",".join(u.groups),
                 "available": u.available, "active": u.active} for u in users.all()]
    print(textfmt.table(rows))
    return 0


def _read_password(args: argparse.Namespace) -> str:
    """The new password: the first line of standard input (--password-stdin), else typed twice on the
    terminal without echo."""
    if args.password_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        return password[:-1] if password.endswith("\r") else password
    try:
        import getpass  # only where a password is typed

        first = getpass.getpass(f"New password for {args.name}: ")
        again = getpass.getpass("Repeat it: ")
    except EOFError:
        raise CliError("no password given (on a terminal, or with --password-stdin)") from None
    if first != again:
        raise CliError("the two passwords differ; nothing changed")
    return first


def cmd_passwd(args: argparse.Namespace) -> int:
    with _open(args) as app:
        with app.reader(acting_user(args)) as tx:  # refuse before asking: unknown user, no right to
            tx.users.require(args.name)
            me = tx.user
        if me.name != args.name and not app.permissions.may(me, "manage_users"):
            raise CliError(f"{me.name} may not set the password of {args.name} (needs the admin role or a role "
                           "with the manage_users privilege)")
        password = _read_password(args)
        with app.transaction(acting_user(args)) as tx:
            tx.users.set_password(args.name, password, tx.now)
    print(f"password of {args.name} set; their sign-in sessions have ended")
    return 0


def cmd_enable(args: argparse.Namespace) -> int:
    with _open(args) as app, app.transaction(acting_user(args)) as tx:
        tx.users.set_active(args.name, args.active)
    print(f"{args.name} {'enabled' if args.active else 'disabled: no sign-in, no API tokens, sessions ended'}")
    return 0
