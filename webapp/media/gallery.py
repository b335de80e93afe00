"""The library in the browser: the gallery, the photo page, and acting on a selection.

Every photo comes through service.get_media_for() (one) or service.get_many_for() (a selection).
"""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from ..albums import service as albums
from ..errors import InvalidInput
from ..web import page_redirect, render
from . import bp, library, links, selection, service
from .serving import send_zip

ACTIONS = ("public", "private", "delete", "album")
VIEW_KEYS = ("q", "album", "sort", "order", "from", "to", "type", "visibility")


@bp.get("/")
@login_required
def gallery():
    """The person's photos, filtered and sorted as the query string says, a page at a time."""
    view = library.view_for(current_user, request.args)
    page = library.page(current_user, view)
    # The next page's tiles need no album list (only the toolbar and the selection bar do).
    return render("media/gallery.html", _library_fragment(view), view=view, page=page, album=None,
                  albums=[] if view.cursor else albums.albums_of(current_user), total=current_user.media_count)


def _library_fragment(view: library.View) -> str:
    """More tiles for infinite scroll; the whole result (count, grid) when a filter changed."""
    return "media/_tiles.html" if view.cursor else "media/_results.html"


@bp.get("/photos/<media_id>")
@login_required
def photo(media_id: str):
    """One photo at screen size, with its facts, albums, codes and the way to the previous and next."""
    return _photo_page(service.get_media_for(current_user, media_id, manage=True))


def _photo_page(media, fragment: str | None = None, **extra):
    """The photo page, or one of its fragments for htmx; `extra` goes to the template (editing=True)."""
    view = library.view_for(current_user, request.args)
    before, after = library.neighbours(current_user, view, media)
    return render("media/photo.html", fragment, media=media, view=view, before=before, after=after,
                  in_albums=albums.albums_containing(media), albums=albums.albums_of(current_user),
                  codes=links.embed_codes(media), display=links.display_url(media),
                  in_browser=links.shows_in_browser(media), **extra)


@bp.post("/photos/<media_id>")
@login_required
def edit_photo(media_id: str):
    """Change the title and description (in place, on the photo page)."""
    media = service.get_media_for(current_user, media_id, manage=True)
    service.update_media(media, title=request.form.get("title"), description=request.form.get("description"))
    return _photo_page(media, "media/_photo_text.html")


@bp.get("/photos/<media_id>/edit-text")
@login_required
def edit_photo_form(media_id: str):
    """The title and description as a form (click to edit)."""
    return _photo_page(service.get_media_for(current_user, media_id, manage=True), "media/_photo_text.html",
                       editing=True)


@bp.post("/photos/<media_id>/visibility")
@login_required
def photo_visibility(media_id: str):
    """Make one photo public or private."""
    media = service.get_media_for(current_user, media_id, manage=True)
    service.update_media(media, is_public=request.form.get("public") == "1")
    flash(_("The photo is now public.") if media.is_public else _("The photo is now private."), "success")
    return _photo_page(media, "media/_photo_visibility.html")


@bp.post("/photos/<media_id>/delete")
@login_required
def delete_photo(media_id: str):
    """Delete one photo and every size of it; back to the gallery."""
    service.delete_media(service.get_media_for(current_user, media_id, manage=True))
    flash(_("The photo was deleted."), "success")
    return page_redirect(url_for("media.gallery", **_back_args()))


@bp.post("/photos/<media_id>/albums")
@login_required
def photo_albums(media_id: str):
    """Put the photo in an album, or take it out of one (remove=1)."""
    media = service.get_media_for(current_user, media_id, manage=True)
    album = albums.get_album_for(current_user, request.form.get("album_id", ""))
    if request.form.get("remove") == "1":
        albums.remove_photo(album, media.id)
    else:
        albums.add_photos(album, [media])
    return _photo_page(media, "media/_photo_albums.html")


@bp.post("/library/selection")
@login_required
def act_on_selection():
    """Public, private, add to album or delete for the selected photos; the page updates the tiles itself."""
    ids, action = request.form.getlist("ids"), request.form.get("action", "")
    if action not in ACTIONS:
        raise InvalidInput(_("Choose what to do with the selected photos."), code="invalid_action")
    message = _act(action, ids)
    flash(message, "success")
    if not request.htmx:
        return redirect(request.form.get("next") or url_for("media.gallery"), 303)
    # The header's count and storage changed too (the commit expired current_user: they reload).
    response = render("media/gallery.html", "_nothing.html", also=("media/_library_stats.html",),
                      total=current_user.media_count)
    response.headers["HX-Trigger"] = library.selection_event(action, ids)
    return response


def _act(action: str, ids: list[str]) -> str:
    if action in ("public", "private"):
        count = len(selection.set_public(current_user, ids, action == "public"))
        if action == "public":
            return ngettext("%(num)s photo is now public.", "%(num)s photos are now public.", count)
        return ngettext("%(num)s photo is now private.", "%(num)s photos are now private.", count)
    if action == "delete":
        count = selection.delete(current_user, ids)
        return ngettext("%(num)s photo was deleted.", "%(num)s photos were deleted.", count)
    album = albums.get_album_for(current_user, request.form.get("album_id", ""))
    added = albums.add_photos(album, service.get_many_for(current_user, ids))
    return ngettext("%(num)s photo was added to %(album)s.", "%(num)s photos were added to %(album)s.", added,
                    album=album.title)


@bp.post("/library/download")
@login_required
def download_selection():
    """The selected photos as one zip, streamed as it is made."""
    chosen = service.get_many_for(current_user, request.form.getlist("ids"))
    return send_zip(selection.zip_entries(chosen), "shoebox-photos.zip", owner_id=current_user.id)


def _back_args() -> dict:
    """The gallery state the photo page was opened from (its forms carry it as view_* fields)."""
    return {key: request.form[f"view_{key}"] for key in VIEW_KEYS if request.form.get(f"view_{key}")}
