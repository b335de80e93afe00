"""JSON endpoints for albums: list, create, read, change, delete; add and remove photos."""

from __future__ import annotations

from flask import g

from ..albums import service
from ..albums.schemas import Album, AlbumChanges, AlbumImages, AlbumImagesAdded, AlbumList, NewAlbum
from ..media import service as media_service
from . import bp
from .contract import operation

NO_SUCH = {404: "No such album or image of yours."}


@bp.get("/api/v1/albums")
@operation("listAlbums", (200, AlbumList, "All your albums."), tag="albums")
def list_albums():
    """Your albums, most recently changed first."""
    return AlbumList(items=[Album.of(s) for s in service.albums_of(g.api_user)], next_cursor=None)


@bp.post("/api/v1/albums")
@operation("createAlbum", (201, Album, "The new album."), tag="albums", json=NewAlbum)
def create_album(json: NewAlbum):
    """Make an album."""
    album = service.create_album(g.api_user, json.title, json.description)
    return Album.of(service.summary(album)), 201


@bp.get("/api/v1/albums/<album_id>")
@operation("getAlbum", (200, Album, "The album."), tag="albums", errors=NO_SUCH)
def get_album(album_id: str):
    """One album."""
    return Album.of(service.summary(service.get_album_for(g.api_user, album_id)))


@bp.patch("/api/v1/albums/<album_id>")
@operation("updateAlbum", (200, Album, "The album as it is now."), tag="albums", json=AlbumChanges, errors=NO_SUCH)
def update_album(album_id: str, json: AlbumChanges):
    """Rename, describe, or choose the cover (a photo in the album)."""
    album = service.get_album_for(g.api_user, album_id)
    service.update_album(album, title=json.title, description=json.description, cover_media_id=json.cover_image_id)
    return Album.of(service.summary(album))


@bp.delete("/api/v1/albums/<album_id>")
@operation("deleteAlbum", (204, None, "Deleted."), tag="albums", errors=NO_SUCH)
def delete_album(album_id: str):
    """Delete an album; its photos stay."""
    service.delete_album(service.get_album_for(g.api_user, album_id))
    return "", 204


@bp.post("/api/v1/albums/<album_id>/images")
@operation("addAlbumImages", (200, AlbumImagesAdded, "How many were added."), tag="albums", json=AlbumImages,
           errors=NO_SUCH)
def add_album_images(album_id: str, json: AlbumImages):
    """Put photos at the end of the album; ones already in it stay where they are."""
    album = service.get_album_for(g.api_user, album_id)
    added = service.add_photos(album, media_service.get_many_for(g.api_user, json.image_ids))
    return AlbumImagesAdded(added=added, album=Album.of(service.summary(album)))


@bp.delete("/api/v1/albums/<album_id>/images/<image_id>")
@operation("removeAlbumImage", (204, None, "Taken out."), tag="albums", errors=NO_SUCH)
def remove_album_image(album_id: str, image_id: str):
    """Take a photo out of the album (the photo stays)."""
    album = service.get_album_for(g.api_user, album_id)
    service.remove_photo(album, media_service.get_media_for(g.api_user, image_id, manage=True).id)
    return "", 204
