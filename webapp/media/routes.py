"""Uploading in the browser, and every URL that serves a photo. All go through get_media_for().

The gallery, photo and selection pages are in gallery.py, on this same blueprint.
"""

from __future__ import annotations

from flask import g, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from .. import analytics, quota
from ..albums import service as albums
from ..api.auth import accepts_upload_keys, authenticate_request
from ..auth import permissions
from ..auth.credentials import carries_api_credentials, viewer
from ..errors import InvalidInput
from ..extensions import csrf, login_manager, unlimited
from ..models import User
from ..schemas import parse
from ..web import render
from . import bp, deletion, hotlinks, links, service, variants, views
from .client_schemas import ClientUploaded
from .receiving import receive_upload, refuse_oversized
from .schemas import FileUpload, UrlUpload
from .serving import send_blob
from .shapes import image_json


@bp.get("/i/<media_id>")
@bp.get("/i/<media_id>.<ext>")
@unlimited  # a gallery page asks for dozens at once; nothing here is costly to repeat
def original(media_id: str, ext: str | None = None):
    """The file itself, or a preset size (?size=thumb|small|medium|large); ?download=1 to save it."""
    size = request.args.get("size")
    download = request.args.get("download") in {"1", "true", "yes"}
    hotlinks.refuse_foreign_page(request.referrer, viewer, media_id)
    if size:
        if size not in service.PRESETS:
            raise InvalidInput(_("size must be one of thumb, small, medium or large."), code="unknown_size")
        return send_blob(service.preset_blob_for(viewer, media_id, size), attachment=download)
    who = viewer()
    blob, kind = service.original_blob_for(who, media_id)
    _count_view(media_id, blob.owner_id, who)
    return send_blob(blob, attachment=download or kind == "file")  # images and videos play in the browser


def _count_view(media_id: str, owner_id: int, who: User | None) -> None:
    # The owner's own looks, HEAD requests and resumed downloads are not views; a player's first request
    # (a range from the start: every <video> asks so) is one.
    fresh = request.headers.get("Range", "bytes=0-").replace(" ", "").startswith("bytes=0-")
    if (who is None or who.id != owner_id) and request.method == "GET" and fresh:
        views.count(media_id)
        analytics.record("view", owner_id=owner_id, media_id=media_id)


@bp.get("/info/<media_id>")
def info(media_id: str):
    """Public JSON facts about a public image (404 for private ones, to everyone but the owner)."""
    return jsonify(image_json(service.get_media_for(viewer(), media_id)))


@bp.get("/embed/<media_id>")
def embed(media_id: str):
    """Ready-to-copy direct link, HTML, Markdown and BBCode, with preview tags for chat apps."""
    media = service.get_media_for(viewer(), media_id)
    analytics.record("view", owner_id=media.user_id, media_id=media.id)  # the photo's page for visitors
    page = links.page_url(media)
    response = render("media/embed.html", media=media, direct=links.direct_url(media), page=page,
                      display=links.display_url(media), in_browser=links.shows_in_browser(media),
                      alt=media.title or media.original_name, codes=links.embed_codes(media),
                      thumb=links.size_url(media, "medium"), oembed=links.oembed_url(page))
    # Other sites may frame the embed page; everything else stays unframeable.
    response.headers["Content-Security-Policy"] = "default-src 'self'; img-src 'self' data:; style-src 'self'; " \
                                                  "script-src 'self'; frame-ancestors *"
    return response


@bp.route("/upload", methods=["GET", "POST"])
@accepts_upload_keys  # a script's POST; the page itself needs a browser session
@csrf.exempt  # a browser's POST is checked below; a script's carries its API key instead of a session
def upload():
    """The upload page; POST takes one file (the page sends each file on its own, with progress).

    A POST with an API key or token is an upload client's (ShareX, scripts written for other image hosts):
    it gets their answer, `{"success": true, "image": {...}}`.
    """
    if request.method == "POST" and carries_api_credentials():  # a key or bearer token; a proxy's Basic is not
        return _upload_for_client()
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if request.method == "GET":
        permissions.demand(current_user, "upload")
        return render("media/upload.html", "media/_upload_quota.html", usage=quota.used_today(current_user.id),
                      plan=current_user.plan, albums=albums.albums_of(current_user))
    csrf.protect()
    user = current_user._get_current_object()
    refuse_oversized(user, request.content_length)
    sent = parse(UrlUpload, request.get_json(silent=True)) if request.is_json else \
        parse(FileUpload, {**request.form.to_dict(), **request.files.to_dict()})
    return jsonify(image_json(receive_upload(user, sent))), 201


def _upload_for_client():
    # The key or token alone, which must be valid: a browser session never stands in for a bad one (it would
    # make this CSRF-exempt door a browser upload without a CSRF token) nor widens a key's scope.
    user = authenticate_request()
    refuse_oversized(user, request.content_length)
    sent = parse(FileUpload, {**request.form.to_dict(), **request.files.to_dict()})
    media, deletion_url = deletion.receive_api_upload(user, sent, g.get("api_key"))
    answer = ClientUploaded.of(media, deletion_url, _("Image uploaded successfully"))
    return jsonify(answer.model_dump(mode="json")), 201


@bp.get("/i/<media_id>/t/<name>")
@unlimited  # only variants that already exist are served: nobody makes new work through this URL
def variant(media_id: str, name: str):
    """A saved transformation ("<hash>.<ext>"), served like the photo to whoever may see the photo."""
    hotlinks.refuse_foreign_page(request.referrer, viewer, media_id)
    media = service.get_media_for(viewer(), media_id)
    blob = service.saved_blob(media, variants.get_variant(media, name), name, public=media.is_public)
    return send_blob(blob, attachment=request.args.get("download") in {"1", "true", "yes"})
