"""The owner's share pages: the share dialog, the Shared links page, editing, revoking, QR codes.

Every link comes through service.get_share_for(); every photo or album it points at through its
own domain's door. Each page is made of fragments that htmx asks for alone: the dialog
(_dialog.html, holding the form or the finished link), one link (_link.html), and the links of one
photo or album (_item_shares.html). Whatever changes a link announces it (HX-Trigger), and the
lists of links on the page load themselves again.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response, flash, make_response, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.utils import secure_filename

from ..albums import service as albums
from ..errors import InvalidInput, attach_error
from ..extensions import db
from ..media import service as media_service
from ..models import Media, ShareLink, utcnow
from ..web import is_fragment_request, render
from . import bp, links, service
from .forms import ShareForm

CHANGED = "shares-changed"


@dataclass
class Shown:
    """What a link shows, as the dialog names it: the target, its kind, a title, a cover, how many photos."""

    target: service.Target | None
    kind: str
    title: str
    cover: Media | None
    count: int


@bp.get("/shares")
@login_required
def index():
    """Every link the person has made, with its status, counters and actions."""
    return _render("shares/index.html", "shares/_list.html", shares=service.shares_of(current_user))


@bp.route("/shares/new", methods=["GET", "POST"])
@login_required
def new():
    """The share dialog: for ?image_id= or ?album_id=, or for the photos a grid's selection bar posts (ids)."""
    shown = _shown(request.args) if request.method == "GET" else _selection(request.form)
    return _form(ShareForm.for_new(shown.kind), shown, fragment="shares/_dialog.html")


@bp.post("/shares")
@login_required
def create():
    """Make the link; the dialog then shows its address, a Copy button and its QR code."""
    shown = _shown(request.form)
    form = ShareForm.for_new(shown.kind, request.form)
    if form.validate_on_submit():
        try:
            link = service.create_share(current_user, shown.target, form.options())
        except InvalidInput as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            return _finished(link, "created")
    return _form(form, shown)


@bp.get("/shares/<share_id>")
@login_required
def show(share_id: str):
    """One link's address and QR code (in the dialog for htmx)."""
    item = service.describe(service.get_share_for(current_user, share_id))
    return _render("shares/link.html", "shares/_dialog.html", item=item, state="shown", panel="shares/_created.html")


@bp.route("/shares/<share_id>/edit", methods=["GET", "POST"])
@login_required
def edit(share_id: str):
    """Change any setting of a link; an empty password field keeps its password."""
    link = service.get_share_for(current_user, share_id)
    posted = request.method == "POST"
    form = ShareForm.for_link(link, request.form if posted else None)
    if form.validate_on_submit():
        try:
            service.update_share(link, form.options(editing=True))
        except InvalidInput as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            return _finished(link, "saved")
    item = service.describe(link)
    shown = Shown(None, link.kind, item.title, item.cover, item.count)
    return _form(form, shown, link=link, fragment="shares/_share_form.html" if posted else "shares/_dialog.html")


@bp.post("/shares/<share_id>/revoke")
@login_required
def revoke(share_id: str):
    """Revoke a link: it answers 410 from the next request on. htmx gets the link's row back."""
    link = service.revoke_share(service.get_share_for(current_user, share_id))
    flash(_("Link revoked: it no longer opens."), "success")
    if not is_fragment_request():
        return redirect(url_for(".index"), 303)
    return _render("shares/_link.html", "shares/_link.html", item=service.describe(link))


@bp.post("/shares/<share_id>/delete")
@login_required
def delete(share_id: str):
    """Delete a link and its statistics; its address answers 404 from then on. htmx's row goes away."""
    service.delete_share(service.get_share_for(current_user, share_id))
    flash(_("Link deleted."), "success")
    if not is_fragment_request():
        return redirect(url_for(".index"), 303)
    response = render("_nothing.html", "_nothing.html")
    response.headers["HX-Trigger"] = CHANGED  # counts and empty states around the row
    return response


@bp.get("/shares/<share_id>/qr.svg")
@login_required
def qr(share_id: str):
    """The link's QR code as an SVG file, drawn here (shown in the dialog, saved by "Download QR code")."""
    link = service.get_share_for(current_user, share_id)
    response = make_response(links.qr_svg(links.share_url(link)))
    response.mimetype = "image/svg+xml"
    name = secure_filename(link.label) or link.id
    response.headers["Content-Disposition"] = f'attachment; filename="qr-{name}.svg"'
    response.headers["Cache-Control"] = "private, no-store"  # it holds the link's secret
    return response


@bp.get("/photos/<media_id>/shares")
@login_required
def photo_shares(media_id: str):
    """The links of one photo (its page loads them into its side panel)."""
    media = media_service.get_media_for(current_user, media_id, manage=True)
    return _item_shares(media.title or media.original_name, url_for(".new", image_id=media.id),
                        service.shares_of(current_user, media_id=media.id))


@bp.get("/albums/<album_id>/shares")
@login_required
def album_shares(album_id: str):
    """The links of one album (its page loads them under its title)."""
    album = albums.get_album_for(current_user, album_id)
    return _item_shares(album.title, url_for(".new", album_id=album.id),
                        service.shares_of(current_user, album_id=album.id))


def _render(template: str, fragment: str, **context) -> Response:
    """render() with what the owner's share templates use: a link's address, the time, and whether in the dialog."""
    return render(template, fragment, link_url=links.share_url, now=utcnow(), in_dialog=is_fragment_request(),
                  **context)


def _item_shares(title: str, new_url: str, shares: list[service.Listed]) -> Response:
    return _render("shares/index.html", "shares/_item_shares.html", shares=shares, item_title=title,
                  new_url=new_url)


def _shown(values) -> Shown:
    """The photo (image_id), album (album_id) or selection (ids) that `values` name, through their doors."""
    if values.getlist("ids"):
        return _selection(values)
    if values.get("album_id"):
        album = albums.get_album_for(current_user, values["album_id"])
        summary = albums.summary(album)
        return Shown(service.Target(album_id=album.id), "album", album.title, summary.cover, summary.count)
    media = media_service.get_media_for(current_user, values.get("image_id", ""), manage=True)
    return Shown(service.Target(media_id=media.id), "photo", service.title_for("photo", media, 1), media, 1)


def _selection(values) -> Shown:
    photos = media_service.get_many_for(current_user, values.getlist("ids"))
    return Shown(service.Target(media_ids=tuple(p.id for p in photos)), "selection",
                 service.title_for("selection", photos[0], len(photos)), photos[0], len(photos))


def _form(form: ShareForm, shown: Shown, link: ShareLink | None = None,
          fragment: str = "shares/_share_form.html") -> Response:
    """The form as a page, as the whole dialog, or (after a POST with errors) as the dialog's content."""
    return _render("shares/form.html", fragment, form=form, shown=shown, link=link, panel="shares/_share_form.html")


def _finished(link: ShareLink, state: str) -> Response:
    """After create or edit: the link's address and QR code in the dialog, or its page after a redirect."""
    if not is_fragment_request():
        flash(_("Link created.") if state == "created" else _("Link saved."), "success")
        return redirect(url_for(".show", share_id=link.id), 303)
    response = _render("shares/link.html", "shares/_created.html", item=service.describe(link), state=state)
    response.headers["HX-Trigger"] = CHANGED
    return response
