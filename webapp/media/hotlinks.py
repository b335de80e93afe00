"""Hotlink protection: which other sites may show this instance's public photos on their pages. No HTTP here.

The admin lists host names (instance setting "hotlink_allowed_sites"); an empty list lets every
site embed. A request whose Referer names another site is refused, unless it is the photo's owner.
A request without a Referer is always served: browsers, privacy settings and apps often send none,
and refusing them would break direct links, not hotlinking.

This sits on the hot path of every public photo, so each process keeps the list (and its own public
host) in memory, read only for requests that carry a Referer from elsewhere. A change to either in
Admin → Settings is announced (webapp/cluster.py): every instance reads them afresh on its next request,
and one that cannot hear of changes reads them every time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _

from .. import audit, cluster, instance
from ..errors import Forbidden, InvalidInput
from ..extensions import db
from ..models import User
from . import service

SETTING = "hotlink_allowed_sites"
LIST_SECONDS = 300.0  # how long the remembered list takes room unused; changes do not wait for it
MAX_SITES = 200
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


class HotlinkRefused(Forbidden):
    """A page on a site the admin has not allowed tried to show a photo."""

    code = "hotlink_refused"

    def __init__(self, site: str):
        super().__init__(_("This server's photos may not be shown on %(site)s: its admin allows only some sites "
                           "to embed them. Open the photo's own address instead.", site=site))


def refuse_foreign_page(referer: str | None, viewer: Callable[[], User | None], media_id: str) -> None:
    """HotlinkRefused when a page at `referer` may not show photo `media_id` to `viewer` (called only then)."""
    site = _host(referer)
    if site is None or may_embed(site):
        return
    who = viewer()
    media = service.get_media_for(who, media_id)  # NotFound, as ever, for someone else's private photo
    if who is None or who.id != media.user_id:
        raise HotlinkRefused(site)


def may_embed(site: str) -> bool:
    """Whether pages on host `site` may show public photos: this instance's own, or an allowed site or its subdomain."""
    if site == _own_host():
        return True
    allowed = allowed_sites()
    return not allowed or any(site == host or site.endswith("." + host) for host in allowed)


def allowed_sites() -> tuple[str, ...]:
    """The admin's list, as it is now (remembered until Admin → Settings changes on any instance)."""
    return _remembered(SETTING, lambda: tuple(instance.get(SETTING)))


def save_allowed_sites(admin: User, text: str) -> bool:
    """Set the list from `text` (one host name per line); returns whether it changed. Audited."""
    wanted = parse_sites(text)
    before = list(instance.get(SETTING))
    if wanted == before:
        return False
    instance.put(SETTING, wanted)
    audit.record("settings_changed", admin.id, target="hotlinks", changes={SETTING: [before, wanted]})
    db.session.commit()
    cluster.announce(cluster.SETTINGS)
    return True


def parse_sites(text: str) -> list[str]:
    """Host names, one per line (blank lines ignored, repeats dropped); InvalidInput naming the first bad one."""
    sites = []
    for line in (text or "").splitlines():
        given = line.strip()
        if not given:
            continue
        host = _host_name(given)
        if host is None:
            raise InvalidInput(_("“%(value)s” is not a host name. Write one site per line, like forum.example.com "
                                 "(its subdomains are allowed too).", value=given[:100]),
                               code="invalid_host_name", field=SETTING)
        if host not in sites:
            sites.append(host)
    if len(sites) > MAX_SITES:
        raise InvalidInput(_("List at most %(n)s sites.", n=MAX_SITES), code="too_many_sites", field=SETTING)
    return sites


def _host_name(given: str) -> str | None:
    """`given` as a lower-case ASCII host name (international names in their xn-- form), or None."""
    try:
        host = given.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return None
    return host


def _host(referer: str | None) -> str | None:
    """The host name a Referer names; None when there is none (no Referer, or one that is not a URL)."""
    if not referer:
        return None
    try:
        host = urlsplit(referer).hostname
    except ValueError:
        return None
    return host.rstrip(".") if host else None


def _own_host() -> str:
    """The public address's host (Admin → Settings, else the config's), read as seldom as the list."""
    from ..web import public_base_url

    return _remembered("own", lambda: urlsplit(public_base_url()).hostname or "")


def _remembered(name: str, read: Callable[[], object]):
    """`name`'s value from this process's memory, or `read()` (kept unless a change was announced meanwhile)."""
    if not cluster.memory_usable():
        return read()
    memory = _memory(current_app)
    value = memory.get((name,))
    if value is None:
        read_at = memory.generation
        value = read()
        memory.put((name,), value, read_at=read_at)
    return value


def listen_for_changes(app) -> None:
    """Forget the list and the host when any instance announces a change to Admin → Settings."""
    kept = _memory(app)
    cluster.listen(app, cluster.SETTINGS, lambda _key: kept.clear())


def _memory(app) -> service.ShortLived:
    return app.extensions.setdefault("shoebox_hotlink_sites", service.ShortLived(LIST_SECONDS, max_entries=2))
