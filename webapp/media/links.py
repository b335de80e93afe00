"""A photo's addresses, and the snippets that show it on other sites.

Every page, fragment and JSON answer builds a photo's URLs here, so they agree (absolute, on the
configured base URL; an owner's signed sizes are paths, for this site's own pages).
"""

from __future__ import annotations

import html

from flask import url_for
from flask_login import current_user

from ..models import Media
from ..web import absolute_url
from . import signed

# Stored types every browser in use shows in an <img>. HEIC and TIFF are shown by Safari alone;
# AVIF only by recent browsers (not Edge before 121, Safari before 16, many in-app viewers), so a
# still AVIF is shown through its rendition too. An animated one keeps its own file: a still
# rendition would lose what it is, and browsers that show animated AVIF show still ones.
_BROWSERS_SHOW = {"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp"}
RENDITION = "large"


def direct_url(media: Media) -> str:
    """The file itself: /i/<id>.<ext>, or /i/<id> when it has no extension."""
    if media.ext:
        return absolute_url("media.original", media_id=media.id, ext=media.ext)
    return absolute_url("media.original", media_id=media.id)


def size_url(media: Media, size: str) -> str:
    """One of the preset sizes (thumb, small, medium, large)."""
    return f"{absolute_url('media.original', media_id=media.id)}?size={size}"


def owner_size_url(media: Media, size: str) -> str:
    """A preset size at its owner's signed, immutable address (signed.py): only for pages its owner sees."""
    return url_for("media.owner_size", **signed.address(media, size))


def shown_size_url(media: Media, size: str) -> str:
    """Where this request's page shows a preset size: the signed address to the photo's owner, the public one
    (answered by the usual checks) to anyone else, so that no other viewer ever sees a signature."""
    if current_user.is_authenticated and current_user.id == media.user_id:
        return owner_size_url(media, size)
    return url_for("media.original", media_id=media.id, size=size)


def shows_in_browser(media: Media) -> bool:
    """Whether a browser can show the stored file itself (a file that is not an image downloads anyway)."""
    if media.kind != "image":
        return True
    return media.mime_type in _BROWSERS_SHOW or (media.mime_type == "image/avif" and media.frames > 1)


def display_url(media: Media) -> str:
    """What to open or embed to see the photo: the file when a browser shows it, else its largest size (WebP)."""
    return direct_url(media) if shows_in_browser(media) else size_url(media, RENDITION)


def page_url(media: Media) -> str:
    """The embed page: the codes to copy, with preview tags for chat apps."""
    return absolute_url("media.embed", media_id=media.id)


def oembed_url(page: str) -> str:
    """The oEmbed answer for `page` (a photo's or a share link's URL), for discovery tags."""
    return absolute_url("shares.oembed", url=page, format="json")


def embed_codes(media: Media) -> dict:
    """The direct link, HTML, Markdown and BBCode people paste elsewhere, each escaped for its own syntax.

    They show what a browser can show: a HEIC's or TIFF's codes point at its rendition; a video's play it
    where HTML allows and link to it elsewhere (Markdown and BBCode have no video).
    """
    direct, alt = display_url(media), media.title or media.original_name
    markdown_alt = alt.replace("\\", "").replace("[", "").replace("]", "")
    if media.kind == "video":
        poster = size_url(media, "medium")
        return {"direct": direct, "html": f'<video controls preload="metadata" src="{html.escape(direct)}" '
                                          f'poster="{html.escape(poster)}" title="{html.escape(alt)}"></video>',
                "markdown": f"[{markdown_alt}]({direct})", "bbcode": f"[url={direct}]{markdown_alt}[/url]"}
    return {"direct": direct, "html": f'<img src="{html.escape(direct)}" alt="{html.escape(alt)}">',
            "markdown": f"![{markdown_alt}]({direct})", "bbcode": f"[img]{direct}[/img]"}
