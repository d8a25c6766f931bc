"""Downloads written in full before the response starts: a spooled file (memory up to ``SPOOL``, then a
temporary file) sent in chunks, so an export is complete or refused, never cut off half way."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

from starlette.responses import StreamingResponse

SPOOL = 4 * 1024 * 1024  # an export is kept in memory up to this size, then in a temporary file
CHUNK = 64 * 1024


def new_spool() -> Any:
    """A spooled file to write an export to (closed by :func:`download` or by the caller on failure)."""
    return tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115  # handed to the response


def download(spool: Any, media_type: str, filename: str) -> StreamingResponse:
    """The written ``spool`` as an attachment ``filename``, read from its start in chunks, then closed."""
    spool.seek(0)
    return StreamingResponse(_chunks(spool), media_type=media_type,
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _chunks(spool: Any) -> Iterator[bytes]:
    try:
        while chunk := spool.read(CHUNK):
            yield chunk
    finally:
        spool.close()
