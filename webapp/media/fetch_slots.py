"""Room for uploads from URLs: a few at once per person, a bounded number per process.

waitress answers every request on one of a fixed number of threads, and an upload from a URL keeps
its thread for as long as the other server takes to send the file: eight slow downloads once held
all eight threads, and /health waited 18 seconds. So a URL upload takes a slot before it connects
anywhere, and when none is free it is refused at once, never queued (a queued request would hold
its thread just the same). Every download ends by its deadline, so the refusal can say how long
until a slot must be free. The counts live in this process: several instances each keep their own.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import current_app
from flask_babel import ngettext

from ..errors import RateLimited, Unavailable
from .fetch import Fetched, fetch


class SlotsTaken(Exception):
    """No slot is free: `own_limit` when the person already uses all of theirs; `retry_after` in seconds."""

    def __init__(self, own_limit: bool, retry_after: int):
        super().__init__(f"no download slot free ({'own' if own_limit else 'instance'} limit)")
        self.own_limit = own_limit
        self.retry_after = retry_after


class FetchSlots:
    """Downloads in progress: at most `total` at once, at most `per_owner` for any one person.

    A slot is taken and given back under one lock, so however many requests arrive together,
    neither limit is ever exceeded.
    """

    def __init__(self, total: int, per_owner: int):
        self.total = total
        self.per_owner = per_owner
        self._lock = threading.Lock()
        self._deadlines: dict[Hashable, list[float]] = {}  # owner -> when each of their downloads ends

    @contextmanager
    def hold(self, owner: Hashable, deadline: float) -> Iterator[None]:
        """Keep a slot for `owner` while the block runs, which ends by `deadline` (time.monotonic)."""
        self._take(owner, deadline)
        try:
            yield
        finally:
            self._give_back(owner, deadline)

    def in_use(self) -> int:
        """How many slots are taken right now."""
        with self._lock:
            return sum(len(deadlines) for deadlines in self._deadlines.values())

    def _take(self, owner: Hashable, deadline: float) -> None:
        with self._lock:
            own = self._deadlines.get(owner, [])
            if len(own) >= self.per_owner:
                raise SlotsTaken(True, _seconds_until(min(own)))
            everyone = [end for ends in self._deadlines.values() for end in ends]
            if len(everyone) >= self.total:
                raise SlotsTaken(False, _seconds_until(min(everyone)))
            self._deadlines.setdefault(owner, []).append(deadline)

    def _give_back(self, owner: Hashable, deadline: float) -> None:
        with self._lock:
            own = self._deadlines[owner]
            own.remove(deadline)
            if not own:
                del self._deadlines[owner]


def _seconds_until(deadline: float) -> int:
    return max(1, math.ceil(deadline - time.monotonic()))


def fetch_for(user_id: int, url: str, dest_dir: Path, *, max_bytes: int) -> Fetched:
    """Download `url` for a person within this instance's slots and deadline (fetch.* settings).

    Raises RateLimited when the person already runs their most downloads, Unavailable when the
    instance does, and FetchError when the download itself fails.
    """
    settings = current_app.config["SHOEBOX"]
    deadline = time.monotonic() + settings["fetch"]["timeout_seconds"]
    try:
        with _slots().hold(user_id, deadline):
            return fetch(url, dest_dir, max_bytes=max_bytes, timeout=deadline - time.monotonic(),
                         allow_private=settings["security"]["allow_private_fetch"])
    except SlotsTaken as taken:
        raise _refusal(taken) from None


def _slots() -> FetchSlots:
    limits = current_app.config["SHOEBOX"]["fetch"]
    # setdefault, not check-then-set: two first requests at once must end up sharing one set of slots.
    # Per process on purpose: the slots bound this process's downloads, not a shared state to keep in step.
    return current_app.extensions.setdefault(
        "shoebox_fetch_slots", FetchSlots(limits["max_concurrent"], limits["per_user"]))


def _refusal(taken: SlotsTaken) -> RateLimited | Unavailable:
    """The API error for a download that found no slot, with its Retry-After."""
    if taken.own_limit:
        per_user = current_app.config["SHOEBOX"]["fetch"]["per_user"]
        message = ngettext("You already have %(num)s upload from a URL in progress, the most one account "
                           "may run at once.",
                           "You already have %(num)s uploads from URLs in progress, the most one account "
                           "may run at once.", per_user)
        return RateLimited(message, code="too_many_url_uploads", retry_after=taken.retry_after)
    message = ngettext("Shoebox is fetching as many URLs as it can at once; try again in %(num)s second.",
                       "Shoebox is fetching as many URLs as it can at once; try again in %(num)s seconds.",
                       taken.retry_after)
    return Unavailable(message, code="url_uploads_busy", retry_after=taken.retry_after)
