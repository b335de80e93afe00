"""An owner's sizes of their photos at signed, immutable addresses (see signed.py): every gallery's hot path.

Nothing here asks who is logged in, and no session is opened for these paths (SESSIONLESS, skipped in
web.SessionInterface): a hit is answered from memory without a cookie decoded or a query made.
"""

from __future__ import annotations

import re

from ..extensions import unlimited
from . import bp, signed
from .serving import send_immutable

# The route's shape as the session skip sees it, before any URL is matched: what signed.address() builds.
SESSIONLESS = re.compile(r"/i/[A-Za-z0-9_-]{1,22}/[a-z]{1,10}\.[0-9]{1,18}\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}\.webp")


@bp.get("/i/<media_id>/<size>.<int:owner_id>.<content>.<sig>.webp")
@unlimited  # a gallery page asks for dozens at once; a hit costs less than checking a limit
def owner_size(media_id: str, size: str, owner_id: int, content: str, sig: str):
    """One preset size of a photo, to whoever holds its signed address (the owner's own pages give it out)."""
    return send_immutable(signed.owner_blob(media_id, size, owner_id, content, sig))
