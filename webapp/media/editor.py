"""The transformation editor: an owner-only page with a live preview, saving variants, the saved list.

The form's fields become the same JSON the API takes, so both go through one set of checks.
Previews are rendered from the photo's 800 px size, never stored and never charged; they are
limited per person instead, as each still costs a little CPU.
"""

from __future__ import annotations

import base64
import re

from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from .. import transforms
from ..auth import permissions
from ..errors import InvalidInput, UnsupportedMedia
from ..extensions import limiter
from ..models import Media
from ..web import absolute_url, is_fragment_request, page_redirect, render
from . import bp, service, variants

PREVIEWS_PER_MINUTE = "120 per minute"
PREVIEW_BOX = (800, 600)  # CSS pixels a preview is shown in at most; the stylesheet narrows it further
FORMAT_LABELS = {"jpeg": "JPEG", "png": "PNG", "webp": "WebP", "avif": "AVIF", "gif": "GIF"}
_WHOLE = re.compile(r"\s*-?\d{1,9}\s*")


def _previewer() -> str:
    return f"editor-preview:{current_user.get_id()}"


def _owned_image(media_id: str) -> Media:
    media = service.get_media_for(current_user._get_current_object(), media_id, manage=True)
    if media.kind == "video":
        raise UnsupportedMedia(_("Only images can be edited; this is a video."), code="not_an_image")
    if media.kind != "image":
        raise UnsupportedMedia(_("Only images can be edited; this is a plain file."), code="not_an_image")
    return media


@bp.get("/i/<media_id>/edit")
@login_required
def editor(media_id: str):
    """The editor page for one of the person's own photos."""
    permissions.demand(current_user, "transform")
    return render("media/editor.html", **_context(_owned_image(media_id)))


@bp.post("/i/<media_id>/edit/preview")
@login_required
@limiter.limit(PREVIEWS_PER_MINUTE, key_func=_previewer)
def editor_preview(media_id: str):
    """The preview fragment for the form as it is now (bad input is shown in its place, with status 200)."""
    media = _owned_image(media_id)
    raw = requested(request.form, media)
    if not raw:
        return render("media/_editor_preview.html", media=media)
    try:
        shown = variants.preview(current_user._get_current_object(), media, variants.plan(media, raw))
    except InvalidInput as error:
        return render("media/_editor_preview.html", media=media, problem=error.message)
    image = f"data:{shown.mime_type};base64,{base64.b64encode(shown.data).decode()}"
    return render("media/_editor_preview.html", media=media, shown=shown, image=image,
                  shown_size=_fitted(shown.result_width, shown.result_height, *PREVIEW_BOX),
                  format_label=FORMAT_LABELS[transforms.format_of(shown.mime_type)])


def _fitted(width: int, height: int, box_width: int, box_height: int) -> tuple[int, int]:
    """The size to show a picture at: its proportions, within the box (a preview may have fewer pixels)."""
    scale = min(box_width / width, box_height / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


@bp.post("/i/<media_id>/edit")
@login_required
def editor_save(media_id: str):
    """Save the form's transformation as a variant (charged only if it is new)."""
    media = _owned_image(media_id)
    raw = requested(request.form, media)
    if not raw:
        raise InvalidInput(_("Change something first: size, crop, rotation, filters or format."),
                           code="invalid_transformation")
    variant, created = variants.create_variant(current_user._get_current_object(), media,
                                               variants.plan(media, raw))
    flash(_("Saved as a new version.") if created else _("This version was already saved; nothing was charged."),
          "success")
    return _variants_answer(media, highlight=variant.id)


@bp.delete("/i/<media_id>/edit/variants/<int(max=2147483647):variant_id>")
@login_required
def editor_delete(media_id: str, variant_id: int):
    """Delete one saved version; its link stops working."""
    media = _owned_image(media_id)
    variants.delete_variant(media, variant_id)
    flash(_("The version was deleted."), "success")
    return _variants_answer(media)


def _variants_answer(media: Media, highlight: int | None = None):
    if not is_fragment_request():
        return page_redirect(url_for("media.editor", media_id=media.id))
    return render("media/editor.html", "media/_editor_variants.html", also=("media/_editor_quota.html",),
                  highlight=highlight, **_context(media))


def _context(media: Media) -> dict:
    user = current_user._get_current_object()
    saved = [{"variant": v, "url": absolute_url("media.variant", media_id=media.id, name=variants.variant_name(v)),
              "label": FORMAT_LABELS.get(transforms.format_of(v.mime_type) or "", v.mime_type),
              "summary": describe(v.spec)} for v in variants.list_variants(media)]
    allowance = variants.allowance(user)
    return {"media": media, "saved": saved, "allowance": allowance, "resets_in": _duration(allowance.resets_in),
            "format_labels": FORMAT_LABELS, "original_format": transforms.format_of(media.mime_type) or "webp",
            "qualities": {name: f[3] for name, f in transforms.FORMATS.items()}}


def requested(form, media: Media) -> dict:
    """The editor's form fields as the API's "transformations" object (empty when nothing is asked)."""
    raw: dict = {}
    size = {side: _number(form.get(f"resize_{side}")) for side in ("width", "height") if _given(form, f"resize_{side}")}
    if size:
        raw["resize"] = {**size, "fit": form.get("fit") or "cover"}
    if any(_given(form, f"crop_{part}") for part in ("x", "y", "width", "height")):
        raw["crop"] = {part: _number(form.get(f"crop_{part}")) for part in ("x", "y", "width", "height")}
    rotate = _number(form.get("rotate"))
    if rotate not in (None, 0):
        raw["rotate"] = rotate
    raw.update({flag: True for flag in ("flip", "mirror") if form.get(flag)})
    if filters := {name: True for name in transforms.FILTERS if form.get(name)}:
        raw["filters"] = filters
    fmt = form.get("format") or None
    effective = fmt or transforms.format_of(media.mime_type) or "webp"
    quality = _number(form.get("quality"))
    if fmt:
        raw["format"] = fmt
    # The slider always sends a value: it is a request only where it can matter and was moved.
    if effective in transforms.FORMATS and quality not in (None, transforms.FORMATS[effective][3]) \
            and transforms.FORMATS[effective][3] is not None:
        raw["quality"] = quality
    if raw:
        raw["background"] = "transparent" if form.get("transparent") else (form.get("background") or None)
    return raw


def _given(form, name: str) -> bool:
    return bool((form.get(name) or "").strip())


def _number(text):
    """A whole number typed into a field, or the text itself (which the checks then refuse with a sentence)."""
    if text is None or not str(text).strip():
        return None
    return int(text) if _WHOLE.fullmatch(text) else text


def describe(spec: str) -> str:
    """A saved transformation in words, e.g. "Crop 800×600 · Resize to 400×300, cover · WebP, quality 80"."""
    words = []
    for part in spec.removeprefix(variants.SPEC_PREFIX).split(";"):
        name, _sep, value = part.partition("=")
        if name == "crop":
            x, y, width, height = value.split(",")
            words.append(_("Crop %(width)s×%(height)s from %(x)s, %(y)s", width=width, height=height, x=x, y=y))
        elif name == "resize":
            size, _sep, fit = value.partition(",")
            fits = {"cover": _("cover"), "contain": _("contain")}
            words.append(_("Resize to %(size)s", size=size.replace("x", "×")) + (f", {fits[fit]}" if fit else ""))
        elif name == "rotate":
            words.append(_("Rotate %(angle)s°", angle=value))
        elif name in ("flip", "mirror", "gray", "sepia"):
            words.append({"flip": _("Flip"), "mirror": _("Mirror"), "gray": _("Greyscale"), "sepia": _("Sepia")}[name])
        elif name == "format":
            words.append(FORMAT_LABELS.get(value, value))
        elif name == "q":
            words[-1] += ", " + _("quality %(quality)s", quality=value)
    return " · ".join(words)


def _duration(seconds: int) -> str:
    """'5 hours', '1 hour' or '12 minutes': when today's count starts again."""
    if seconds >= 3600:
        hours = round(seconds / 3600)
        return ngettext("%(num)s hour", "%(num)s hours", hours)
    minutes = max(1, round(seconds / 60))
    return ngettext("%(num)s minute", "%(num)s minutes", minutes)
