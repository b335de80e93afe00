"""A photo's addresses, and the snippets that show it on other sites.

Every page, fragment and JSON answer builds a photo's URLs here, so they agree (absolute, on the
configured base URL).
"""

from __future__ import annotations

import html

from ..models import Media
from ..web import absolute_url


def direct_url(media: Media) -> str:
    """The file itself: /i/<id>.<ext>, or /i/<id> when it has no extension."""
    if media.ext:
        return absolute_url("media.original", media_id=media.id, ext=media.ext)
    return absolute_url("media.original", media_id=media.id)


def size_url(media: Media, size: str) -> str:
    """One of the preset sizes (thumb, small, medium, large)."""
    return f"{absolute_url('media.original', media_id=media.id)}?size={size}"


def page_url(media: Media) -> str:
    """The embed page: the codes to copy, with preview tags for chat apps."""
    return absolute_url("media.embed", media_id=media.id)


def embed_codes(media: Media) -> dict:
    """The direct link, HTML, Markdown and BBCode people paste elsewhere, each escaped for its own syntax."""
    direct, alt = direct_url(media), media.title or media.original_name
    markdown_alt = alt.replace("\\", "").replace("[", "").replace("]", "")
    return {"direct": direct, "html": f'<img src="{html.escape(direct)}" alt="{html.escape(alt)}">',
            "markdown": f"![{markdown_alt}]({direct})", "bbcode": f"[img]{direct}[/img]"}
