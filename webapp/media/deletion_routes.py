"""The pages of a deletion link (/delete/<secret>, see deletion.py): GET asks, POST deletes.

GET (and HEAD) never delete: link scanners, chat previews and browsers that prefetch only ever see the
question. The POST carries the secret in its path, and the secret alone decides: the page reads no
session, no cookie, no account. That is also why it has no CSRF token. A forged cross-site form post can
only send a secret its author already holds, and whoever holds it can delete the upload directly anyway;
the victim's browser adds nothing the attacker lacks. Every answer is no-store, noindex and sends no
Referer, so the secret stays out of caches, search engines and other sites' logs.
"""

from __future__ import annotations

import functools

from flask import Response, request

from ..errors import NotFound
from ..extensions import csrf, limiter
from ..web import render
from . import bp, deletion, links

# A secret has 256 bits, so this is not against guessing: it keeps one address from making the server
# look up and render pages (or delete) without end.
LINK_LIMIT = "60 per minute; 600 per hour"


def _private_page(view):
    """Answer with the page of a link that works no more (404) when it deletes nothing."""

    @functools.wraps(view)
    def guarded(secret: str):
        try:
            return view(secret)
        except NotFound as error:
            return render("media/delete_link.html", gone=error.message, status=404)

    return guarded


@bp.after_app_request  # the app's: a refused method matches no route of this blueprint
def _deletion_link_headers(response: Response) -> Response:
    """Every answer under /delete/, refusals included: its address holds the secret, so it stays out of
    caches, search engines and Referer headers."""
    if request.path.startswith("/delete/"):
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Robots-Tag"] = "noindex, nofollow"
        response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/delete/<secret>")
@limiter.limit(LINK_LIMIT)
@_private_page
def deletion_link(secret: str):
    """What the link would delete, and a button that deletes it."""
    media = deletion.media_for_secret(secret)
    thumbnail = links.owner_size_url(media, "thumb") if media.kind == "image" else None
    return render("media/delete_link.html", media=media, thumbnail=thumbnail)


@bp.post("/delete/<secret>")
@csrf.exempt  # the secret in the path is the whole authority (see the module's docstring)
@limiter.limit(LINK_LIMIT)
@_private_page
def use_deletion_link(secret: str):
    """Delete the upload, every size of it, and give its storage back."""
    return render("media/delete_link.html", deleted=deletion.delete_with_link(secret))
