"""A share link's addresses, and its QR code.

The owner's pages (and anything else that hands a link out) build its URL here, absolute on the
configured base URL, so the address that is copied, shown and drawn as a QR code is one.
"""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg

from ..models import ShareLink
from ..web import absolute_url


def share_url(link: ShareLink) -> str:
    """The address a recipient opens: /s/<token> on the configured base URL."""
    return absolute_url("shares.page", token=link.token)


def qr_url(link: ShareLink) -> str:
    """The owner's address of the link's QR code (an SVG)."""
    return absolute_url("shares.qr", share_id=link.id)


def qr_svg(text: str) -> bytes:
    """`text` as a QR code: an SVG of one path on a white square (scannable on a dark page and in print)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathFillImage, box_size=10, border=4,
                        error_correction=qrcode.constants.ERROR_CORRECT_M)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()
