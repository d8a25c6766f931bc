"""Server settings: command-line flags first, then ``ORDO_*`` environment variables, then defaults.

One table (docs/api.md) lists them. Nothing here is per process state: several workers and several
``ordo serve`` processes on one database read the same settings and share everything else through it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ordo.engine.credentials import Throttle
from ordo.engine.errors import UsageError

DEFAULT_PORT = 8000
DEFAULT_MAX_BODY = 1_048_576  # bytes of one request body


@dataclass(frozen=True)
class Settings:
    app: str = ""  # app folder or builtin:NAME                            ORDO_APP
    site: str = ""  # a site file: several apps, each with its database    ORDO_SITE
    db: str = "ordo.db"  # SQLite file or database URL                     ORDO_DB
    host: str = "127.0.0.1"  #                                             ORDO_HOST
    port: int = DEFAULT_PORT  #                                            ORDO_PORT
    workers: int = 1  # uvicorn worker processes                           ORDO_WORKERS
    secret_key: str | None = None  # signs cookies; default: kept in the database   ORDO_SECRET_KEY
    allowed_origins: tuple[str, ...] = ()  # CORS origins allowed to call the API    ORDO_ALLOWED_ORIGINS
    max_body: int = DEFAULT_MAX_BODY  #                                    ORDO_MAX_BODY
    session_hours: float = 12.0  # a sign-in lasts this long              ORDO_SESSION_HOURS
    secure_cookies: bool = False  # cookies only over HTTPS                ORDO_SECURE_COOKIES
    create: bool = False  # create the database when missing               (flag --create only)
    throttle: Throttle = field(default_factory=Throttle)

    @property
    def session_lifetime(self) -> dt.timedelta:
        return dt.timedelta(hours=self.session_hours)

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``ORDO_*`` variables, with ``overrides`` (flags that were given) taking precedence."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"ORDO_{f.name.upper()}")
            if raw is None or f.name in ("create", "throttle"):
                continue
            values[f.name] = _parse(f.name, raw)
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        settings = replace(cls(), **values)
        settings.check()
        return settings

    def check(self) -> None:
        if not 0 < self.port < 65536:
            raise UsageError(f"port must be between 1 and 65535, got {self.port}")
        if not 1 <= self.workers <= 64:
            raise UsageError(f"workers must be between 1 and 64, got {self.workers}")
        if self.max_body < 1024:
            raise UsageError(f"max body must be at least 1024 bytes, got {self.max_body}")
        if self.session_hours <= 0:
            raise UsageError("session hours must be positive")
        if self.secret_key is not None and len(self.secret_key) < 16:
            raise UsageError("ORDO_SECRET_KEY must be at least 16 characters")

    def environ(self) -> dict[str, str]:
        """The settings as ``ORDO_*`` variables, for worker processes started by uvicorn."""
        out = {"ORDO_APP": self.app, "ORDO_SITE": self.site, "ORDO_DB": self.db, "ORDO_HOST": self.host, "ORDO_PORT": str(self.port),
               "ORDO_MAX_BODY": str(self.max_body), "ORDO_SESSION_HOURS": str(self.session_hours),
               "ORDO_SECURE_COOKIES": "1" if self.secure_cookies else "0",
               "ORDO_ALLOWED_ORIGINS": ",".join(self.allowed_origins)}
        if self.secret_key:
            out["ORDO_SECRET_KEY"] = self.secret_key
        return out


def _parse(name: str, raw: str) -> Any:
    try:
        if name in ("port", "workers", "max_body"):
            return int(raw)
        if name == "session_hours":
            return float(raw)
        if name == "secure_cookies":
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if name == "allowed_origins":
            return tuple(o.strip() for o in raw.split(",") if o.strip())
    except ValueError:
        raise UsageError(f"ORDO_{name.upper()}: invalid value {raw!r}") from None
    return raw
