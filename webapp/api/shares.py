"""JSON endpoints for share links: list, create, read, change (revoke included), delete."""

from __future__ import annotations

from flask import g

from ..shares import service
from ..shares.schemas import NewShare, Share, ShareChanges, ShareList, ShareQuery
from . import bp
from .contract import operation

NO_SUCH = {404: "No such share link of yours."}


@bp.get("/api/v1/shares")
@operation("listShares", (200, ShareList, "A page of your links."), tag="shares", query=ShareQuery)
def list_shares(query: ShareQuery):
    """Your share links, newest first, a page at a time."""
    links, next_cursor = service.shares_page(g.api_user, limit=query.limit, cursor=query.cursor)
    return ShareList(items=[Share.of(link) for link in links], next_cursor=next_cursor)


@bp.post("/api/v1/shares")
@operation("createShare", (201, Share, "The new link."), tag="shares", json=NewShare,
           errors={404: "No such photo or album of yours (or one of the photos is not)."})
def create_share(json: NewShare):
    """Make a link to one photo, an album or a selection, for people without an account.

    Several links may show the same thing, each with its own settings and counters.
    """
    return Share.of(service.create_share(g.api_user, json.target(), json.options())), 201


@bp.get("/api/v1/shares/<share_id>")
@operation("getShare", (200, Share, "The link."), tag="shares", errors=NO_SUCH)
def get_share(share_id: str):
    """One link, with its counters and status."""
    return Share.of(service.get_share_for(g.api_user, share_id))


@bp.patch("/api/v1/shares/<share_id>")
@operation("updateShare", (200, Share, "The link as it is now."), tag="shares", json=ShareChanges, errors=NO_SUCH)
def update_share(share_id: str, json: ShareChanges):
    """Change a link's settings, or revoke it with `{"revoked": true}` (it answers 410 from the next request on)."""
    link = service.get_share_for(g.api_user, share_id)
    return Share.of(service.update_share(link, json.options(), revoked=json.revoked))


@bp.delete("/api/v1/shares/<share_id>")
@operation("deleteShare", (204, None, "Deleted."), tag="shares", errors=NO_SUCH)
def delete_share(share_id: str):
    """Delete a link and its statistics; its URL answers 404 from then on."""
    service.delete_share(service.get_share_for(g.api_user, share_id))
    return "", 204
