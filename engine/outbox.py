"""Notifications: written to an outbox table in the caller's transaction, delivered by the worker.

Channels: ``inbox`` (in-app, stored only), ``email`` (SMTP) and ``webhook``
(HTTP POST of JSON). Delivery is retried with backoff; a message that keeps
failing is marked failed with its last error. Writing to the outbox inside the
business transaction means a notification exists exactly when the change that
caused it was committed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from . import jsontext, unit_of_work
from .db import write_connection
from .tables import SYSTEM_METADATA, PartialIndex, id_column

if TYPE_CHECKING:
    from .runtime import Runtime

# messages still to deliver (or failed): an inbox message is written sent, so it never enters this index
UNSENT = "status <> 'sent'"  # literally in the index's WHERE and in the statements it serves

outbox_table = sa.Table(
    "ordo_outbox",
    SYSTEM_METADATA,
    id_column(),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("recipient", sa.String(500), nullable=False),
    sa.Column("subject", sa.String(500), nullable=False, default=""),
    sa.Column("body", sa.Text, nullable=False, default=""),
    sa.Column("payload", sa.Text, nullable=False, default="{}"),
    sa.Column("status", sa.String(20), nullable=False, default="pending"),  # pending, sent, failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.DateTime, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("sent_at", sa.DateTime),
    PartialIndex("ix_ordo_outbox_unsent", "status", "next_attempt_at", where=UNSENT),
    sa.Index("ix_ordo_outbox_recipient", "channel", "recipient"),
    info={"retired_indexes": ("ix_ordo_outbox_due",)},
)
_UNSENT = sa.literal_column(UNSENT)

CHANNELS = ("inbox", "email", "webhook")
_INSERT = sa.insert(outbox_table)  # built once; rows buffered by the unit of work, one executemany at commit
MAX_ATTEMPTS = 6


@dataclass(frozen=True)
class Message:
    id: int
    channel: str
    recipient: str
    subject: str
    body: str
    payload: dict[str, Any]
    status: str
    attempts: int
    created_at: dt.datetime
    last_error: str | None = None


def notify(conn: sa.Connection, channel: str, recipient: str, subject: str, body: str = "",
           payload: dict[str, Any] | None = None, *, now: dt.datetime) -> None:
    """Queue a notification in the caller's transaction: its row is buffered by the unit of work and written
    with the transaction's other buffered rows just before it commits (one executemany per table; a savepoint
    rolled back drops it), so it exists exactly when the change that caused it does. Readers of the outbox
    in the same transaction (:func:`messages`, :func:`count_messages`) write the buffered rows first."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown notification channel {channel!r} (use one of {', '.join(CHANNELS)})")
    unit_of_work.buffer(conn, _INSERT, dict(
        channel=channel, recipient=recipient, subject=subject[:500], body=body,
        payload=jsontext.dumps(payload or {}),
        status="sent" if channel == "inbox" else "pending", attempts=0, next_attempt_at=now, created_at=now,
        sent_at=now if channel == "inbox" else None, last_error=None,
    ))


def _filtered(q: Any, recipient: str | None, channel: str | None, status: str | None) -> Any:
    t = outbox_table
    for col, v in ((t.c.recipient, recipient), (t.c.channel, channel), (t.c.status, status)):
        if v is not None:
            q = q.where(col == v)
    return q.where(_UNSENT) if status not in (None, "sent") else q  # (the index of unsent messages serves it)


def messages(conn: sa.Connection, *, recipient: str | None = None, channel: str | None = None,
             status: str | None = None, limit: int = 100, offset: int = 0) -> list[Message]:
    t = outbox_table
    unit_of_work.flush(conn)  # notifications of this transaction still buffered
    q = _filtered(sa.select(t).order_by(t.c.id.desc()).limit(limit).offset(offset), recipient, channel, status)
    return [Message(r.id, r.channel, r.recipient, r.subject, r.body, json.loads(r.payload), r.status, r.attempts,
                    r.created_at, r.last_error) for r in conn.execute(q)]


def count_messages(conn: sa.Connection, *, recipient: str | None = None, channel: str | None = None,
                   status: str | None = None) -> int:
    """How many notifications match: what ``messages`` pages through."""
    unit_of_work.flush(conn)
    q = _filtered(sa.select(sa.func.count()).select_from(outbox_table), recipient, channel, status)
    return int(conn.execute(q).scalar_one())


Sender = Callable[[Message], None]


def smtp_sender(host: str | None = None, port: int | None = None, sender: str | None = None,
                username: str | None = None, password: str | None = None) -> Sender:
    """Send email through SMTP (settings default to ORDO_SMTP_HOST/PORT/FROM/USER/PASSWORD)."""
    host = host or os.environ.get("ORDO_SMTP_HOST", "localhost")
    port = port or int(os.environ.get("ORDO_SMTP_PORT", "25"))
    sender = sender or os.environ.get("ORDO_SMTP_FROM", "ordo@localhost")
    username = username or os.environ.get("ORDO_SMTP_USER")
    password = password or os.environ.get("ORDO_SMTP_PASSWORD")

    def send(msg: Message) -> None:
        import smtplib  # with the first email sent, not with the engine
        from email.message import EmailMessage

        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = sender, msg.recipient, msg.subject
        mail.set_content(msg.body or msg.subject)
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            if username:
                smtp.starttls()
                smtp.login(username, password or "")
            smtp.send_message(mail)

    return send


def webhook_sender(timeout: float = 10.0) -> Sender:
    """POST the message as JSON to its recipient URL; any non-2xx answer is a failure."""

    def send(msg: Message) -> None:
        import httpx  # when a webhook is sent: opening an app does not import it

        body = {"id": msg.id, "subject": msg.subject, "body": msg.body, "payload": msg.payload}
        response = httpx.post(msg.recipient, json=body, timeout=timeout, headers={"X-Ordo-Message": str(msg.id)})
        if response.status_code // 100 != 2:
            raise RuntimeError(f"webhook answered HTTP {response.status_code}")

    return send


class Outbox:
    """Delivers pending messages with the configured senders."""

    def __init__(self, app: Runtime) -> None:
        self.app = app
        self.senders: dict[str, Sender] = {"email": smtp_sender(), "webhook": webhook_sender()}

    def deliver_due(self, now: dt.datetime | None = None, limit: int = 100) -> int:
        """Try every due message once; return how many were sent."""
        now = now or self.app.clock.now()
        t = outbox_table
        sent = 0
        with write_connection(self.app.engine) as conn:
            q = (sa.select(t).where(_UNSENT, t.c.status == "pending", t.c.next_attempt_at <= now)
                 .order_by(t.c.id).limit(limit))
            if conn.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            for r in conn.execute(q).fetchall():
                msg = Message(r.id, r.channel, r.recipient, r.subject, r.body, json.loads(r.payload), r.status,
                              r.attempts, r.created_at)
                try:
                    self.senders[msg.channel](msg)
                except Exception as e:  # delivery problems are data, not crashes
                    attempts = r.attempts + 1
                    conn.execute(sa.update(t).where(t.c.id == r.id).values(
                        attempts=attempts, last_error=f"{type(e).__name__}: {e}"[:2000],
                        status="failed" if attempts >= MAX_ATTEMPTS else "pending",
                        next_attempt_at=now + dt.timedelta(seconds=30 * 2 ** (attempts - 1))))
                    continue
                conn.execute(sa.update(t).where(t.c.id == r.id).values(
                    status="sent", attempts=r.attempts + 1, sent_at=now, last_error=None))
                sent += 1
        return sent
