"""oEmbed (oembed.com, version 1.0): what another site needs to embed a public photo or a share link.

Only addresses on this instance's base URL are answered. A share link is looked at, never opened:
nothing here takes a view, and a link with a password or a view limit answers a plain link card
with no picture and nothing about its photos.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from flask import current_app, jsonify, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from ..errors import InvalidInput, NotFound, ShoeboxError
from ..extensions import db
from ..media import links
from ..media import service as media_service
from ..models import Album, Media, ShareLink, Variant
from ..web import absolute_url
from . import access, bp, service

PROVIDER_NAME = "Shoebox"
PHOTO_PAGES = ("media.embed", "media.original", "media.photo")
# Largest first: an embedded photo is at most the large size, a link card's picture at most medium.
PHOTO_SIZES = ("large", "medium", "small", "thumb")
CARD_SIZES = ("medium", "small", "thumb")


class FormatNotImplemented(ShoeboxError):
    """oEmbed's answer to a format other than JSON."""

    status, code = 501, "format_not_supported"


@bp.get("/oembed")
def oembed():
    """The oEmbed answer for ?url= (a public photo's or a share link's address), as JSON."""
    if request.args.get("format", "json") != "json":
        raise FormatNotImplemented(_("Only format=json is offered."), code="format_not_supported")
    url = request.args.get("url", "").strip()
    if not url:
        raise InvalidInput(_("Give the address to embed as url."), code="url_required", field="url")
    bounds = (_whole(request.args.get("maxwidth"), "maxwidth"), _whole(request.args.get("maxheight"), "maxheight"))
    endpoint, args = _route_of(url)
    if endpoint in PHOTO_PAGES:
        answer, cache = photo_answer(media_service.get_media_for(None, args["media_id"]), bounds), "public, max-age=300"
    elif endpoint == "shares.page":
        answer, cache = link_answer(args["token"], bounds), "private, no-store"
    else:
        raise _nothing_to_embed()
    response = jsonify({"version": "1.0", "provider_name": PROVIDER_NAME, "provider_url": _base_url() + "/",
                        **answer})
    response.headers["Cache-Control"] = cache
    response.headers["Access-Control-Allow-Origin"] = "*"  # no credentials are read: any page may ask
    return response


def photo_answer(media: Media, bounds: tuple[int | None, int | None]) -> dict:
    """A public photo: type photo (its largest size within the bounds), or a link card for other files."""
    card = {"title": media.title or media.original_name, "author_name": service.owner_name(media.user_id)}
    if media.kind != "image":
        return {"type": "link", **card}
    if media.frames > 1 and links.shows_in_browser(media) and _fits(media.width, media.height, bounds):
        # An animation keeps moving only in its own file: the sizes are still pictures.
        return {"type": "photo", **card, "url": links.direct_url(media), "width": media.width,
                "height": media.height}
    chosen = _fitting_size(media, bounds, PHOTO_SIZES,
                           lambda name: media_service.get_preset_for(None, media.id, name)[1])
    if chosen is None:
        return {"type": "link", **card}
    name, variant = chosen
    return {"type": "photo", **card, "url": links.size_url(media, name), "width": variant.width,
            "height": variant.height}


def link_answer(token: str, bounds: tuple[int | None, int | None]) -> dict:
    """A share link that still opens: a photo for a plain one-photo link, else a link card."""
    link = access.find(token)
    if service.status_of(link) != "active" or access.owner_blocked(link):
        raise _nothing_to_embed()
    owner_name = service.owner_name(link.user_id)
    if access.is_protected(link):
        # What a link scanner may learn of a protected link: who shared it, nothing of what.
        return {"type": "link", "title": _("Shared with you by %(name)s", name=owner_name), "author_name": owner_name}
    photos, _next = access.photos(link, limit=1)
    cover = photos[0] if photos and photos[0].kind == "image" else None
    card = {"title": _link_title(link, photos), "author_name": owner_name}
    sized = _link_sizes(link, cover)
    if link.kind == "photo" and cover is not None:
        chosen = _fitting_size(cover, bounds, PHOTO_SIZES, sized)
        if chosen is not None:
            name, variant = chosen
            return {"type": "photo", **card, "url": _link_size_url(token, cover, name), "width": variant.width,
                    "height": variant.height}
    chosen = _fitting_size(cover, bounds, CARD_SIZES, sized) if cover is not None else None
    if chosen is None:
        return {"type": "link", **card}
    name, variant = chosen
    return {"type": "link", **card, "thumbnail_url": _link_size_url(token, cover, name),
            "thumbnail_width": variant.width, "thumbnail_height": variant.height}


# --- helpers ----------------------------------------------------------------------------------

def _route_of(url: str) -> tuple[str, dict]:
    """The endpoint and arguments an address on this instance's base URL names; NotFound for any other."""
    try:
        base, given = urlsplit(_base_url()), urlsplit(url)
    except ValueError:  # not an address at all ("http://[")
        raise _nothing_to_embed() from None
    same_site = given.scheme.lower() == base.scheme and given.netloc.lower() == base.netloc.lower()
    if not same_site or not given.path.startswith(base.path + "/"):
        raise _nothing_to_embed()
    try:
        return current_app.url_map.bind(base.netloc).match(unquote(given.path[len(base.path):]), method="GET")
    except HTTPException:  # no such route, another method only, or a redirect
        raise _nothing_to_embed() from None


def _fitting_size(media: Media, bounds, names: tuple[str, ...],
                  variant_of: Callable[[str], Variant]) -> tuple[str, Variant] | None:
    """The largest of the preset sizes `names` that fits the bounds, made if need be; None when none fits.

    A size is first judged from the photo's dimensions (cheap, within a pixel or two of the real
    thing); only a likely one is loaded, and its real dimensions decide.
    """
    for name in names:
        scale = min(1.0, media_service.PRESETS[name] / max(media.width, media.height, 1))
        guess = (round(media.width * scale), round(media.height * scale))
        if not _fits(guess[0] - 2, guess[1] - 2, bounds):
            continue
        variant = variant_of(name)
        if _fits(variant.width, variant.height, bounds):
            return name, variant
    return None


def _fits(width: int, height: int, bounds: tuple[int | None, int | None]) -> bool:
    max_width, max_height = bounds
    return (max_width is None or width <= max_width) and (max_height is None or height <= max_height)


def _link_sizes(link: ShareLink, cover: Media | None) -> Callable[[str], Variant]:
    """A size of the link's first photo, through the link's own door (made on first request, as its URL would)."""
    def variant_of(name: str) -> Variant:
        media, variant = access.photo_of(link, cover.id, preset=name)
        return variant or media_service.make_preset(media, name)
    return variant_of


def _link_size_url(token: str, media: Media, name: str) -> str:
    return absolute_url("shares.sized", token=token, media_id=media.id, size=name)


def _link_title(link: ShareLink, photos: list[Media]) -> str:
    """What the recipient's page is called: the photo's or the album's title, or how many photos."""
    album = db.session.get(Album, link.album_id) if link.kind == "album" else None
    count = access.count(link) if link.kind != "photo" else len(photos)
    return service.title_for(link.kind, photos[0] if photos else None, count, album.title if album else "")


def _whole(raw: str | None, field: str) -> int | None:
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise InvalidInput(_("%(field)s must be a whole number of pixels, 1 or more.", field=field),
                           code="invalid_size", field=field)
    return int(raw)


def _base_url() -> str:
    from ..web import public_base_url  # the admin's public address (Admin → Settings), else the config's

    return public_base_url()


def _nothing_to_embed() -> NotFound:
    return NotFound(_("There is nothing to embed at that address."), code="nothing_to_embed")
