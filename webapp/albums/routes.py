"""Albums in the browser: the list, one album's page, and changing them. All go through get_album_for()."""

from __future__ import annotations

from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from ..media import library, selection
from ..media import service as media_service
from ..media.serving import send_zip
from ..web import page_redirect, render
from . import bp, service


@bp.get("/albums")
@login_required
def index():
    """Every album, with its cover and count, and a form to make a new one."""
    return render("albums/index.html", summaries=service.albums_of(current_user))


@bp.post("/albums")
@login_required
def create():
    """Make an album and go to it."""
    album = service.create_album(current_user, request.form.get("title", ""), request.form.get("description", ""))
    ids = request.form.getlist("ids")
    if ids:  # "new album" from a gallery selection
        service.add_photos(album, media_service.get_many_for(current_user, ids))
    flash(_("Album “%(title)s” created.", title=album.title), "success")
    return page_redirect(url_for("albums.show", album_id=album.id))


@bp.get("/albums/<album_id>")
@login_required
def show(album_id: str):
    """One album: its photos in the album's order (or another), a page at a time."""
    album = service.get_album_for(current_user, album_id)
    view = library.view_for(current_user, request.args, album_id=album.id)
    return _album_page(album, "media/_tiles.html" if view.cursor else "media/_results.html", view)


def _album_page(album, fragment: str | None, view: library.View | None = None, **extra):
    """The album page, or one of its fragments for htmx; `extra` goes to the template (editing=True)."""
    view = view or library.view_for(current_user, request.args, album_id=album.id)
    return render("albums/show.html", fragment, album=album, summary=service.summary(album), view=view,
                  page=library.page(current_user, view), total=None, **extra,
                  albums=[] if view.cursor else service.albums_of(current_user))


@bp.get("/albums/<album_id>/edit")
@login_required
def edit_form(album_id: str):
    """The name and description as a form (click to edit)."""
    return _album_page(service.get_album_for(current_user, album_id), "albums/_album_head.html", editing=True)


@bp.post("/albums/<album_id>")
@login_required
def edit(album_id: str):
    """Rename or describe the album; or make one photo its cover (cover=<photo id>)."""
    album = service.get_album_for(current_user, album_id)
    cover = request.form.get("cover")
    if cover:
        service.update_album(album, cover_media_id=cover)
        flash(_("The album has a new cover."), "success")
    else:
        service.update_album(album, title=request.form.get("title", ""),
                             description=request.form.get("description", ""))
    return _album_page(album, "albums/_album_head.html")


@bp.post("/albums/<album_id>/delete")
@login_required
def delete(album_id: str):
    """Delete the album; its photos stay."""
    album = service.get_album_for(current_user, album_id)
    title = album.title
    service.delete_album(album)
    flash(_("Album “%(title)s” deleted; its photos are still in your gallery.", title=title), "success")
    return page_redirect(url_for("albums.index"))


@bp.post("/albums/<album_id>/remove")
@login_required
def remove(album_id: str):
    """Take the selected photos out of the album."""
    album = service.get_album_for(current_user, album_id)
    chosen = media_service.get_many_for(current_user, request.form.getlist("ids"))
    service.remove_photos(album, [media.id for media in chosen])
    flash(ngettext("%(num)s photo was taken out of the album.", "%(num)s photos were taken out of the album.",
                   len(chosen)), "success")
    response = render("albums/show.html", "_nothing.html")
    response.headers["HX-Trigger"] = library.selection_event("remove", [media.id for media in chosen])
    return response


@bp.post("/albums/<album_id>/order")
@login_required
def reorder(album_id: str):
    """Move one photo to just after another (or to the front): what a drag and drop sends."""
    album = service.get_album_for(current_user, album_id)
    media = media_service.get_media_for(current_user, request.form.get("media_id", ""), manage=True)
    after = request.form.get("after") or None
    if after:
        after = media_service.get_media_for(current_user, after, manage=True).id
    service.move_photo(album, media.id, after)
    return "", 204


@bp.get("/albums/<album_id>/download")
@login_required
def download(album_id: str):
    """The whole album as one zip, in album order, streamed as it is made."""
    album = service.get_album_for(current_user, album_id)
    return send_zip(selection.zip_entries(service.photos_in(album)), f"{album.title}.zip", owner_id=album.user_id)
