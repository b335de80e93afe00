"""What people without an account see: every URL under /s/<token>.

Each route asks access.enter() (the page) or access.admit() (everything carrying a photo's bytes
or facts) first, and reaches photos only through access.photo_of(): that is the only door.
"""

from __future__ import annotations

import time

from flask import Response, current_app, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import analytics
from ..errors import InvalidInput, NotFound
from ..extensions import db, limiter, unlimited
from ..media import service as media_service
from ..media import selection, variants
from ..media.serving import send_blob, send_zip
from ..models import Album, ShareLink
from ..web import render
from . import access, bp, guests, links, service

COOKIE = "shoebox_visit"
PAGE_SIZE = 60
PASSWORD_PER_LINK = "10 per 15 minutes"
PASSWORD_PER_ADDRESS = "10 per 15 minutes"
GUEST_UPLOADS_PER_ADDRESS = "60 per hour"
SIZES = tuple(media_service.PRESETS)
ZIP_NAME = "shoebox-shared-photos.zip"


def _link_key() -> str:
    return f"share-password:{service.token_hash(request.view_args.get('token', ''))[:32]}"


def _wrong_password(response: Response) -> bool:
    return response.status_code == 401


def _cookie() -> str | None:
    return request.cookies.get(COOKIE)


def _is_owner(link: ShareLink) -> bool:
    return current_user.is_authenticated and current_user.id == link.user_id


@bp.get("/s/<token>")
def page(token: str):
    """The photo, or the album's grid; first a password form or an Open button when the link asks for one."""
    entry = access.enter(token, _cookie(), time.time())
    if entry.visit is None and _is_owner(entry.link):
        # The owner sees what recipients see, without a password and without using up a view.
        response = _private(_show(entry.link), entry.link)
        _set_visit(response, entry.link, time.time(), unlocked=True)
        return response
    if not entry.unlocked:
        return _private(_gate(entry, "password"), entry.link, status=401)
    if entry.needs_open:
        return _private(_gate(entry, "open"), entry.link)
    visit_started = None
    if entry.visit is None and analytics.counts_as_view():
        access.take_view(entry.link)
        analytics.record("view", owner_id=entry.link.user_id, share_id=entry.link.id)
        visit_started = time.time()
    response = _private(_show(entry.link), entry.link)
    if visit_started is not None:
        _set_visit(response, entry.link, visit_started, unlocked=True)
    return response


@bp.post("/s/<token>")
@limiter.limit(PASSWORD_PER_LINK, key_func=_link_key, deduct_when=_wrong_password, scope="share-password-link")
@limiter.limit(PASSWORD_PER_ADDRESS, deduct_when=_wrong_password, scope="share-password-address")
def open_link(token: str):
    """The password form and the Open button post here: only this takes a view of a limited link."""
    entry = access.enter(token, _cookie(), time.time())
    link, unlocked = entry.link, entry.unlocked
    if not unlocked:
        if not service.password_matches(link, request.form.get("password", "")):
            access.count_password_failure(link)
            analytics.record("password_failed", owner_id=link.user_id, share_id=link.id)
            return _private(_gate(entry, "password", error=_("That password is not right.")), link, status=401)
    if entry.visit is not None and entry.visit.unlocked:
        return redirect(url_for(".page", token=token), 303)
    access.take_view(link)
    analytics.record("view", owner_id=link.user_id, share_id=link.id)
    response = redirect(url_for(".page", token=token), 303)
    _set_visit(response, link, time.time(), unlocked=True)
    return response


@bp.get("/s/<token>/more")
def more(token: str):
    """The next tiles of an album or selection (infinite scroll)."""
    link = access.admit(token, _cookie(), time.time())
    photos, next_key = access.photos(link, after=_after(request.args.get("after", "")), limit=PAGE_SIZE)
    return _private(render("shares/_recipient_tiles.html", link=link, token=token, photos=photos,
                           next_key=next_key), link)


@bp.get("/s/<token>/p/<media_id>")
def viewer(token: str, media_id: str):
    """One photo of the link at screen size, with the way to the one before and after (works without JavaScript)."""
    link = access.admit(token, _cookie(), time.time())
    media, _variant = access.photo_of(link, media_id)
    before, after = access.neighbours(link, media)
    return _private(render("shares/recipient_photo.html", link=link, token=token, media=media, before=before,
                           after=after, owner_name=service.owner_name(link.user_id), facts=_facts(link, media)), link)


@bp.get("/s/<token>/p/<media_id>/<size>")
@unlimited  # an album's grid asks for dozens at once, and only sizes that exist or a preset are made
def sized(token: str, media_id: str, size: str):
    """A preset size of one of the link's photos (thumb, small, medium, large)."""
    row = access.size_of(token, _cookie(), time.time(), media_id, size) if size in SIZES else None
    if row is not None:  # the hot path: every tile and every photo a recipient looks at (the row has both)
        return _private(send_blob(media_service.preset_blob(row, row, size, public=False), attachment=False), row)
    link = access.admit(token, _cookie(), time.time())
    if size not in SIZES:
        raise NotFound(_("There is no such size."), code="unknown_size")
    media, variant = access.photo_of(link, media_id, preset=size)
    if media.kind not in media_service.HAS_SIZES:
        raise NotFound(_("There is no such size."), code="unknown_size")
    blob = media_service.preset_blob(media, variant or media_service.make_preset(media, size), size, public=False)
    return _private(send_blob(blob, attachment=False), link)


@bp.get("/s/<token>/p/<media_id>/original")
def original(token: str, media_id: str):
    """The original file as it was uploaded, as a download; counts one download."""
    link = access.admit(token, _cookie(), time.time())
    media, _variant = access.photo_of(link, media_id)
    _take_download(link, media.id)
    return _private(send_blob(media_service.original_blob(media, public=False), attachment=True), link)


@bp.get("/s/<token>/p/<media_id>/video")
def play(token: str, media_id: str):
    """A video of the link for its <video> element: shown inline, in ranges, counting no download."""
    link = access.admit(token, _cookie(), time.time())
    media, _variant = access.photo_of(link, media_id)
    if media.kind != "video":
        raise NotFound(_("This link shows no such video."), code="video_not_found")
    return _private(send_blob(media_service.original_blob(media, public=False), attachment=False), link)


@bp.get("/s/<token>/p/<media_id>/t/<name>")
def saved_version(token: str, media_id: str, name: str):
    """A saved transformation of one of the link's photos, when downloads are allowed; counts one download."""
    link = access.admit(token, _cookie(), time.time())
    media, _variant = access.photo_of(link, media_id)
    saved = variants.get_variant(media, name)
    _take_download(link, media.id)
    return _private(send_blob(media_service.saved_blob(media, saved, name, public=False), attachment=True), link)


@bp.get("/s/<token>/p/<media_id>.json")
def facts(token: str, media_id: str):
    """What the page shows about one photo, as JSON: name, size, and camera and date when the owner allowed."""
    link = access.admit(token, _cookie(), time.time())
    media, _variant = access.photo_of(link, media_id)
    return _private(jsonify(_facts(link, media)), link)


@bp.get("/s/<token>/zip")
def download_all(token: str):
    """Every photo of the link as one zip, streamed as it is made; counts one download."""
    link = access.admit(token, _cookie(), time.time())
    chosen = access.all_photos(link)
    if not chosen:
        raise NotFound(_("This link shows no photos any more."), code="nothing_to_download")
    _take_download(link, None)
    return _private(send_zip(selection.zip_entries(chosen), ZIP_NAME, owner_id=link.user_id), link)


@bp.get("/s/<token>/preview.webp")
def preview(token: str):
    """The picture in a chat app's preview card: only for links with neither a password nor a view limit."""
    link = access.admit(token, _cookie(), time.time())
    if access.is_protected(link):
        raise NotFound()
    cover = _cover(link)
    if cover is None:
        raise NotFound()
    media, variant = access.photo_of(link, cover.id, preset="medium")
    blob = media_service.preset_blob(media, variant or media_service.make_preset(media, "medium"), "medium",
                                     public=False)
    return _private(send_blob(blob, attachment=False), link)


@bp.post("/s/<token>/upload")
@limiter.limit(GUEST_UPLOADS_PER_ADDRESS, scope="share-guest-upload")
def guest_upload(token: str):
    """A guest adds one photo to the link's album (multipart: `file` and `name`)."""
    link = access.admit(token, _cookie(), time.time())
    guests.refuse_oversized(link, request.content_length)
    sent = request.files.get("file")
    if sent is None or not sent.filename and not sent.content_length:
        raise InvalidInput(_("Choose a file to upload."), code="file_required", field="file")
    with media_service.receiving() as work:
        path = work / "upload"
        sent.save(path)
        media = guests.store_guest_upload(link, media_service.Incoming(path, sent.filename or "upload"),
                                          request.form.get("name", ""))
    if request.form.get("then") == "page":  # the form without JavaScript: back to the album, with thanks
        return redirect(url_for(".page", token=token, added=1, _anchor="guest-upload"), 303)
    return _private(jsonify({"id": media.id, "original_name": media.original_name, "size": media.size}), link), 201


# --- helpers ----------------------------------------------------------------------------------

def _take_download(link: ShareLink, media_id: str | None) -> None:
    """Count a download (a resumed range counts as a new one: limits cannot be walked around in pieces)."""
    if request.method == "HEAD":  # answers as GET would, without counting
        access.check_download(link)
        return
    access.take_download(link)
    analytics.record("download", owner_id=link.user_id, share_id=link.id, media_id=media_id)
    request.environ.pop("HTTP_RANGE", None)
    request.environ.pop("HTTP_IF_RANGE", None)


def _gate(entry: access.Entry, kind: str, error: str | None = None) -> Response:
    return render("shares/recipient_gate.html", link=entry.link, kind=kind, error=error,
                  owner_name=service.owner_name(entry.link.user_id), protected=True)


def _show(link: ShareLink) -> Response:
    """The photo, or the grid (from ?after= on, for browsers without JavaScript)."""
    after = _after(request.args.get("after", ""))
    photos, next_key = access.photos(link, after=after, limit=PAGE_SIZE)
    cover = (photos[0] if photos else None) if after is None else _cover(link)
    album = db.session.get(Album, link.album_id) if link.kind == "album" else None
    total = access.count(link)
    return render("shares/recipient.html", link=link, token=link.token, photos=photos, next_key=next_key,
                  owner_name=service.owner_name(link.user_id), total=total, protected=access.is_protected(link),
                  cover=cover, title=service.title_for(link.kind, cover, total, album.title if album else ""),
                  share_url=links.share_url(link),
                  facts=_facts(link, photos[0]) if link.kind == "photo" and photos else None)


def _private(response: Response, link: ShareLink, status: int | None = None) -> Response:
    """A limited or password link's answers are never stored; others are revalidated on every use."""
    if status is not None:
        response.status_code = status
    limited = access.is_protected(link) or link.max_downloads is not None
    response.headers["Cache-Control"] = "private, no-store" if limited else "private, no-cache"
    return response


@bp.after_request
def _recipient_headers(response: Response) -> Response:
    """Every answer under /s/, errors included: no shared cache, no token in a Referer, no search index."""
    if request.path.startswith("/s/"):
        if not response.headers.get("Cache-Control", "").startswith("private, no-"):
            response.headers["Cache-Control"] = "private, no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Robots-Tag"] = "noindex, nofollow"
        response.vary.add("Cookie")
    return response


def _set_visit(response: Response, link: ShareLink, started: float, unlocked: bool) -> None:
    secure = current_app.session_interface.get_cookie_secure(current_app)
    response.set_cookie(COOKIE, access.sign_visit(link, started, unlocked), max_age=access.VISIT_SECONDS,
                        path=f"/s/{link.token}", secure=secure, httponly=True, samesite="Lax")


def _after(raw: str) -> tuple[int, str] | None:
    if not raw:
        return None
    position, _sep, media_id = raw.partition(".")
    digits = position.removeprefix("-")
    # ASCII digits within the column's 32-bit range: anything else would fail in the database (a 500).
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 10) or abs(int(position)) >= 2**31 \
            or not media_id or len(media_id) > 22:
        raise InvalidInput(_("The page position is not valid."), code="invalid_cursor", field="after")
    return int(position), media_id


def _cover(link: ShareLink):
    photos, _next = access.photos(link, limit=1)
    return photos[0] if photos else None


def _facts(link: ShareLink, media) -> dict:
    """A photo's facts for recipients: never its location; camera and date only when the owner allowed."""
    facts = {"id": media.id, "name": media.title or media.original_name, "width": media.width,
             "height": media.height, "size": media.size, "mime_type": media.mime_type}
    if link.show_metadata:
        facts["taken_at"] = media.taken_at.isoformat() if media.taken_at else None
        facts["camera"] = media.camera or None
    return facts

