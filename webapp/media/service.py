"""Photos and files: taking them in, the one loader that decides who sees them, derived sizes, deletion.

No HTTP here. An upload either completes (blobs written, quota taken, row committed last) or
leaves nothing behind: every step that succeeded is undone when a later one fails.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import tempfile
import threading
import time
import unicodedata
from collections import OrderedDict
from contextlib import ExitStack, contextmanager
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, delete, null, select, update
from sqlalchemy.exc import IntegrityError

from .. import audit, cluster, imaging, instance, jobs, quota, scratch
from ..errors import Forbidden, InvalidInput, NotFound, TooLarge, UnsupportedMedia
from ..extensions import blob_store, db
from ..i18n import human_size
from ..albums import service as albums
from ..models import Album, Media, User, Variant
from ..storage import StorageError
from . import video

log = logging.getLogger(__name__)

# Decoding a photo takes memory in proportion to its pixels (~60 MB for 12 MP). Letting only as
# many decodes run as there are cores bounds peak memory however many uploads arrive at once,
# and costs no throughput: the work is CPU-bound anyway. What one slot may decode is bounded by
# [limits] max_image_memory, checked from the header before any pixel is decoded.
IMAGE_WORK = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))

# Preset sizes anyone allowed to see an image may ask for: a fixed, small set, so that nobody
# can make the server do unbounded work by varying a URL.
PRESETS = {"thumb": 400, "small": 800, "medium": 1600, "large": 2560}
MADE_AT_UPLOAD = ("thumb",)
PREVIEW, PREVIEW_JOB = "medium", "make_preview"  # made after the upload's answer, see previews.py
# A video's sizes are pictures of its poster frame: the thumbnail and this one are made at upload from
# the one decoded frame, and the other sizes from this one when first asked for.
POSTER = "large"
HAS_SIZES = ("image", "video")
MAX_SELECTION = 1000

# How long an entry may take room in memory unused. A change (made private, deleted, the owner blocked)
# is not left to it: every instance forgets the photo before its next request (forget(), webapp/cluster.py).
PUBLIC_BLOB_SECONDS = 10.0
SMALL_BLOB_BYTES = 256 * 1024
PUBLIC_BLOB_MEMORY = 64 * 1024 * 1024


@dataclass(frozen=True)
class Blob:
    """Everything needed to send one stored file, detached from the database session."""

    key: str
    size: int
    mime_type: str
    etag: str
    last_modified: datetime
    public: bool
    filename: str
    data: bytes | None = None  # the bytes themselves, for small blobs kept in memory
    owner_id: int | None = None  # whose photo: the bytes sent count against their plan's bandwidth


class ShortLived:
    """A small thread-safe map whose entries expire after `seconds`; the oldest go first when full.

    Full means more than `max_entries` entries or more than `max_weight` in total of what put() was
    told each entry weighs (bytes, for the blobs kept in memory). The expiry only bounds how long an
    entry takes room; what keeps entries right is that every change forgets them (webapp/cluster.py).
    `generation` counts the forgets: a value read from the database before a forget is not put after it.
    """

    def __init__(self, seconds: float, max_entries: int = 10_000, max_weight: int = 0):
        self.seconds, self.max_entries, self.max_weight = seconds, max_entries, max_weight
        self._entries: OrderedDict = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()
        self.generation = 0

    def get(self, key):
        """The value under `key`, or None when absent or expired."""
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key, value, weight: int = 0, *, read_at: int | None = None) -> None:
        """Remember `value` under `key` for the next `seconds`, unless something was forgotten since
        `generation` was `read_at` (the value may predate that change)."""
        with self._lock:
            if read_at is not None and read_at != self.generation:
                return
            self._drop(key)
            self._entries[key] = (time.monotonic() + self.seconds, value, weight)
            self._weight += weight
            while len(self._entries) > self.max_entries or (self.max_weight and self._weight > self.max_weight):
                self._drop(next(iter(self._entries)))

    def forget(self, first: str) -> None:
        """Drop every entry whose key starts with `first` (keys are tuples)."""
        with self._lock:
            self.generation += 1
            for key in [key for key in self._entries if key[0] == first]:
                self._drop(key)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self.generation += 1
            self._entries.clear()
            self._weight = 0

    def _drop(self, key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._weight -= entry[2]


@dataclass(frozen=True)
class Incoming:
    """A received file waiting on local disk for the pipeline."""

    path: Path
    original_name: str


def new_media_id() -> str:
    """22 URL-safe characters, 128 random bits: unguessable."""
    return secrets.token_urlsafe(16)


def clean_name(name: str) -> str:
    """A filename kept only as display text: no path, no control or bidi-override characters."""
    name = unicodedata.normalize("NFC", str(name or "")).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    return name.strip()[:255] or "upload"


def upload_limit(user: User) -> int:
    """The most bytes one upload of `user` may have: the plan's limit within the instance's (0: none)."""
    plan_limit = user.plan.max_upload_bytes if user.plan else 0
    instance_limit = current_app.config["SHOEBOX"]["limits"]["max_upload_bytes"]
    return min((limit for limit in (plan_limit, instance_limit) if limit), default=0)


def refuse_if_too_large(user: User, size: int, slack: int = 0) -> None:
    """TooLarge when `size` (less `slack` for framing) exceeds what the plan or the instance allows."""
    limit = upload_limit(user)
    if not limit or size <= limit + slack:
        return
    plan_limit = user.plan.max_upload_bytes if user.plan else 0
    if plan_limit == limit:
        message = _("The file is larger than the %(size)s your plan allows per upload.", size=human_size(limit))
    else:
        message = _("The file is larger than the %(size)s this server accepts per upload.", size=human_size(limit))
    raise TooLarge(message, code="file_too_large")


def _check_allowed(user: User, size: int) -> None:
    if size == 0:
        raise InvalidInput(_("The file is empty."), code="empty_file")
    refuse_if_too_large(user, size)
    if not user.is_verified and not instance.get("unverified_may_upload"):
        raise Forbidden(_("Confirm your email address before uploading."), code="email_unconfirmed")


# The image types an admin accepts or refuses (setting "allowed_image_types"): its value -> (Pillow's format, name).
# "video" stands for the video containers video.py accepts (no Pillow format).
IMAGE_TYPES = {"jpeg": ("JPEG", "JPEG"), "png": ("PNG", "PNG"), "gif": ("GIF", "GIF"), "webp": ("WEBP", "WebP"),
               "avif": ("AVIF", "AVIF"), "heic": ("HEIF", "HEIC"), "bmp": ("BMP", "BMP"), "tiff": ("TIFF", "TIFF"),
               "video": (None, _l("Videos (MP4, WebM, MOV)"))}


def refuse_unaccepted_image_type(fmt: str) -> None:
    """UnsupportedMedia when the admin no longer accepts images of Pillow format `fmt` (Admin → Settings)."""
    accepted = instance.get("allowed_image_types")
    for value, (pillow_format, name) in IMAGE_TYPES.items():
        if pillow_format == fmt and value not in accepted:
            raise UnsupportedMedia(_("This server does not accept %(type)s images; its admin chose which kinds of "
                                     "file it takes.", type=name), code="image_type_refused", field="file")


def _probe(path: Path) -> imaging.ProbeResult | video.VideoProbe | None:
    """What the content is; None for a file that the instance accepts as a plain file.

    A video is looked for only once Pillow has said the file is no image: images pay nothing for it.
    """
    try:
        with IMAGE_WORK:
            probe = imaging.probe(path, _image_limits())
    except imaging.UnsupportedImage as error:
        found = _probe_video(path)
        if found is not None or instance.get("allow_any_file"):
            return found
        raise UnsupportedMedia(error.message, code=error.code, field="file") from None
    except imaging.ImageNeedsTooMuchMemory as error:
        raise TooLarge(_memory_sentence(error), code=error.code) from None
    except imaging.ImageTooLarge as error:
        raise TooLarge(error.message, code=error.code) from None
    except imaging.CorruptImage as error:
        raise InvalidInput(error.message, code=error.code) from None
    refuse_unaccepted_image_type(probe.format)
    return probe


def _probe_video(path: Path) -> video.VideoProbe | None:
    """The video in `path` with its poster frame; None when its first bytes are no video container, or when
    videos are not accepted but any file is (it is then kept as a plain file)."""
    with path.open("rb") as file:
        if video.sniff(file.read(4096)) is None:  # a WebM's DocType lies within its first bytes
            return None
    if "video" not in instance.get("allowed_image_types"):
        if instance.get("allow_any_file"):
            return None
        raise UnsupportedMedia(_("This server does not accept videos; its admin chose which kinds of file it "
                                 "takes."), code="video_type_refused", field="file")
    try:
        with IMAGE_WORK:
            return video.probe_video(path, _video_limits())
    except video.VideoError as error:
        raise _video_refusal(error) from None


def _video_limits() -> video.Limits:
    """What a video's picture may be: what a transformation may make ([transforms]), within the memory bound."""
    settings = current_app.config["SHOEBOX"]
    most = min(settings["transforms"]["max_pixels"], settings["limits"]["max_image_memory"] // 4)
    return video.Limits(max_side=settings["transforms"]["max_side"], max_pixels=most)


def _video_refusal(error: video.VideoError):
    """A refused video as the API's error, with one sentence in the request's language."""
    limits = _video_limits()
    if error.code == "video_too_large":
        return TooLarge(_("The video's picture is larger than Shoebox accepts: up to %(side)s pixels a side and "
                          "%(pixels)s megapixels in all.", side=limits.max_side,
                          pixels=round(limits.max_pixels / 1e6)), code=error.code, field="file")
    if error.code == "video_too_many_streams":
        return TooLarge(_("The video has more than the %(n)s streams (picture, sound, subtitles) Shoebox accepts.",
                          n=limits.max_streams), code=error.code, field="file")
    if error.code == "video_too_long":
        return TooLarge(_("The video claims to last longer than the %(hours)s hours Shoebox accepts.",
                          hours=round(limits.max_seconds_long / 3600)), code=error.code, field="file")
    if error.code == "video_codec_refused":
        return UnsupportedMedia(_("Videos in this format are not accepted; Shoebox takes H.264, HEVC, MPEG-4, AV1, "
                                  "VP8 and VP9."), code=error.code, field="file")
    if error.code == "no_video_stream":
        return InvalidInput(_("The file holds no video picture, only sound or data."), code=error.code, field="file")
    if error.code == "video_too_slow":
        return InvalidInput(_("The video took too long to read; it may be damaged."), code=error.code, field="file")
    return InvalidInput(_("The video could not be read: it is damaged, truncated or not what it claims to be."),
                        code=error.code, field="file")


def _image_limits() -> imaging.Limits:
    """The header checks of an upload, with the configured memory bound ([limits] max_image_memory)."""
    return imaging.Limits(max_memory=current_app.config["SHOEBOX"]["limits"]["max_image_memory"])


def _memory_sentence(error: imaging.ImageNeedsTooMuchMemory) -> str:
    sizes = {"needed": human_size(error.needed), "limit": human_size(error.limit)}
    if error.animated:
        return _("The animation would need %(needed)s of memory to process; Shoebox accepts up to %(limit)s.",
                 **sizes)
    return _("The image would need %(needed)s of memory to process; Shoebox accepts up to %(limit)s.", **sizes)


def store_upload(user: User, incoming: Incoming, *, title: str = "", is_public: bool | None = None,
                 album: Album | None = None, before_commit: Callable[[Media], None] | None = None) -> Media:
    """Run the whole pipeline for one file and return the committed Media row (put in `album` if given).

    `before_commit` runs inside the committing transaction with the new row: what it changes
    commits with the upload, and what it raises undoes the upload (a guest link's counters).

    The day's upload and the storage are charged in the transaction that commits the row, so a
    crash at any point, even kill -9, charges nothing; it leaves at worst an orphan blob for the
    integrity check. Cheap checks first refuse what cannot fit before any work is done.
    """
    size = incoming.path.stat().st_size
    _check_allowed(user, size)
    plan = user.plan
    uploads_limit, storage_limit = (plan.uploads_per_day, plan.storage_bytes) if plan else (0, 0)
    quota.check(user.id, "uploads", uploads_limit)
    quota.check_storage(user.id, size, storage_limit)
    probe = _probe(incoming.path)
    undo = ExitStack()
    with undo, tempfile.TemporaryDirectory(dir=_work_dir()) as work:
        try:
            media, sizes = _prepare(user, incoming, probe, Path(work), title, is_public)
            written = _write_blobs(media, Path(work), sizes, undo)
            quota.take(user.id, "uploads", uploads_limit, commit=False)
            quota.reserve_storage(user.id, media.size, storage_limit, commit=False)
            db.session.add(media)
            db.session.add_all(written)
            if album is not None:
                albums.place_new_photo(album, media)
            _count(user.id, +1)
            audit.record("media_uploaded", user.id, target=f"media:{media.id}", size=media.size, kind=media.kind)
            if before_commit is not None:
                before_commit(media)
            if media.kind == "image":  # the preview is made after the answer (previews.py)
                jobs.enqueue(PREVIEW_JOB, {"media_id": media.id}, user_id=user.id)
            db.session.commit()
        except BaseException:
            db.session.rollback()  # nothing was charged: the counters change only in this transaction
            raise
        undo.pop_all()  # everything stands: nothing to undo
    return media


def _work_dir() -> Path:
    """This process's scratch folder in the data directory (same disk as local storage: cheap moves)."""
    return scratch.folder(current_app.config["SHOEBOX"]["data_dir"])


@contextmanager
def receiving():
    """A private scratch folder for one incoming file, removed afterwards whatever happens."""
    with scratch.workspace(current_app.config["SHOEBOX"]["data_dir"]) as work:
        yield work


def _prepare(user, incoming, probe, work: Path, title,
             is_public) -> tuple[Media, dict[str, imaging.Rendition]]:
    """The row for the file, with the stored version of the original normalised in `work`, and the sizes
    made at upload by name (none for a file that is neither an image nor a video)."""
    media = Media(id=new_media_id(), user_id=user.id, original_name=clean_name(incoming.original_name),
                  title=" ".join(str(title or "").split())[:200],
                  is_public=user.uploads_public if is_public is None else bool(is_public))
    stored, sizes = work / "original", {}
    if probe is None:
        media.kind, media.mime_type = "file", "application/octet-stream"
        media.ext = _safe_ext(media.original_name)
        os.link(incoming.path, stored)  # both live in the data directory's tmp folder: same disk
    elif isinstance(probe, video.VideoProbe):
        os.link(incoming.path, stored)  # kept as sent: only its poster frame was decoded
        sizes = _prepare_video(media, probe)
    else:
        media.kind = "image"
        with IMAGE_WORK:
            media.mime_type, media.ext = imaging.normalise(incoming.path, stored, probe,
                                                           keep_location=user.keep_location)
            sizes["thumb"] = _render(stored, PRESETS["thumb"])  # the one decode: it also refuses damaged pixels
        _fill_image_facts(media, probe, sizes["thumb"], user.keep_location)
    media.size = stored.stat().st_size
    media.sha256 = _sha256(stored)
    media.storage_key = f"originals/{media.id[:2]}/{media.id}.{media.ext}" if media.ext else \
        f"originals/{media.id[:2]}/{media.id}"
    return media, sizes


def _prepare_video(media: Media, probe: video.VideoProbe) -> dict[str, imaging.Rendition]:
    """Fill in a video's facts and make its thumbnail and poster from the frame probe_video() decoded."""
    media.kind, media.mime_type, media.ext = "video", probe.mime_type, probe.ext
    media.width, media.height, media.duration = probe.width, probe.height, probe.duration
    if probe.taken_at is not None:
        media.taken_at = media.captured_at = probe.taken_at
    with IMAGE_WORK:
        sizes = {name: imaging.render_picture(probe.poster, PRESETS[name]) for name in ("thumb", POSTER)}
    media.placeholder = sizes["thumb"].placeholder
    return sizes


def _render(source: Path, max_side: int) -> imaging.Rendition:
    """imaging.render(), its refusals as the API's errors (the caller holds an IMAGE_WORK slot)."""
    try:
        return imaging.render(source, max_side)
    except imaging.ImageTooLarge as error:
        raise TooLarge(error.message, code=error.code) from None
    except imaging.ImageError as error:
        raise InvalidInput(error.message, code=error.code) from None


def _fill_image_facts(media: Media, probe: imaging.ProbeResult, thumb: imaging.Rendition,
                      keep_location: bool) -> None:
    meta = probe.metadata
    media.width, media.height, media.frames = probe.width, probe.height, probe.frames
    media.taken_at, media.camera, media.lens = meta.taken_at, meta.camera[:120], meta.lens[:120]
    media.captured_at = meta.taken_at or media.created_at
    if keep_location:
        media.latitude, media.longitude = meta.latitude, meta.longitude
    media.placeholder = thumb.placeholder


def _write_blobs(media: Media, work: Path, sizes: dict[str, imaging.Rendition], undo: ExitStack) -> list[Variant]:
    """Put the original and the sizes made at upload into storage; each put is undone on failure."""
    store = blob_store()
    store.put(media.storage_key, work / "original")
    undo.callback(store.delete, media.storage_key)
    written = []
    for name, made in sizes.items():
        variant = _store_preset(media, name, made)
        undo.callback(store.delete, variant.storage_key)
        written.append(variant)
    return written


def _store_preset(media: Media, name: str, made: imaging.Rendition) -> Variant:
    key = f"variants/{media.id}/{name}.webp"
    blob_store().put(key, made.data, content_type="image/webp")
    return Variant(media_id=media.id, spec=name, storage_key=key, mime_type="image/webp", size=len(made.data),
                   width=made.width, height=made.height)


def _render_preset(media: Media, source: Path, name: str, slot: threading.BoundedSemaphore) -> Variant:
    with slot:
        made = _render(source, PRESETS[name])
    return _store_preset(media, name, made)


# --- finding and deciding who may see ----------------------------------------------------------

def get_media_for(viewer: User | None, media_id: str, *, manage: bool = False) -> Media:
    """The one door to a photo or file: its owner may do anything; others may only view a public one.

    Everything else is NotFound (never Forbidden), so a private id is never confirmed to exist.
    """
    return _load(viewer, media_id, manage=manage)[0]


def get_preset_for(viewer: User | None, media_id: str, name: str) -> tuple[Media, Variant]:
    """The same door for a preset size: the photo and its cached size in one query, made on first request."""
    if name not in PRESETS:
        raise NotFound(_("There is no such size."), code="unknown_size")
    media, variant = _load(viewer, media_id, preset_name=name)
    if media.kind not in HAS_SIZES:
        raise NotFound(_("There is no such size."), code="unknown_size")
    return media, variant or make_preset(media, name)


def preset_blob_for(viewer: Callable[[], User | None], media_id: str, name: str) -> Blob:
    """What to send for a preset size: get_preset_for(), remembered when public.

    Public presets are the hot path (every gallery, embed and chat preview): answering them from
    memory spares a query, and for small ones the file read, on every request. Only public ones are
    kept, so nothing private is ever served from here; `viewer` is called only when it matters.
    A change made on any instance forgets the entry everywhere before the next request (see forget()).
    """
    cache = usable_memory()
    blob = cache.get((media_id, name)) if cache is not None else None
    if blob is not None:
        return blob
    read_at = cache.generation if cache is not None else None
    media, variant = get_preset_for(viewer(), media_id, name)
    blob = preset_blob(media, variant, name, public=media.is_public)
    if media.is_public:
        blob = with_small_bytes(blob)
        if cache is not None:
            cache.put((media_id, name), blob, weight=len(blob.data or b""), read_at=read_at)
    return blob


def with_small_bytes(blob: Blob) -> Blob:
    """The blob with its bytes in it when it is small enough to keep in memory (SMALL_BLOB_BYTES)."""
    if blob.size > SMALL_BLOB_BYTES:
        return blob
    with blob_store().open(blob.key) as stream:
        return replace(blob, data=stream.read(SMALL_BLOB_BYTES + 1))


def preset_blob(media, variant, name: str, *, public: bool) -> Blob:
    """How a preset size of `media` is sent (its ETag names the photo's content and the size)."""
    return Blob(key=variant.storage_key, size=variant.size, mime_type=variant.mime_type,
                etag=f"{media.sha256[:16]}-{name}", last_modified=variant.created_at, public=public,
                filename=download_name(media, "webp"), owner_id=media.user_id)


def original_blob(media: Media, *, public: bool) -> Blob:
    """How the stored file itself is sent, under its original name."""
    return Blob(key=media.storage_key, size=media.size, mime_type=media.mime_type, etag=media.sha256,
                last_modified=media.created_at, public=public, filename=download_name(media), owner_id=media.user_id)


def original_blob_for(viewer: User | None, media_id: str) -> tuple[Blob, str]:
    """What to send for the file itself, and its kind ("image", "video" or "file"): get_media_for(), remembered
    when public, as preset_blob_for() does (the same memory, forgotten the same way)."""
    cache = usable_memory()
    found = cache.get((media_id, "original")) if cache is not None else None
    if found is not None:
        return found
    read_at = cache.generation if cache is not None else None
    media = get_media_for(viewer, media_id)
    found = original_blob(media, public=media.is_public), media.kind
    if media.is_public and cache is not None:
        cache.put((media_id, "original"), found, read_at=read_at)
    return found


def saved_blob(media: Media, saved: Variant, name: str, *, public: bool) -> Blob:
    """How a saved transformation ("<hash>.<ext>") is sent, under the original's name with its extension."""
    stem, ext = name.rsplit(".", 1)
    return Blob(key=saved.storage_key, size=saved.size, mime_type=saved.mime_type, etag=stem,
                last_modified=saved.created_at, public=public, filename=download_name(media, ext),
                owner_id=media.user_id)


def forget(media_id: str) -> None:
    """After the commit that changed or deleted a photo: every instance (this one at once) forgets it."""
    cluster.announce(cluster.PHOTO, media_id)


def listen_for_changes(app) -> None:
    """Let announcements from any instance empty this app's memory (on the bus's thread: no app context)."""
    kept = memory(app)
    cluster.listen(app, cluster.PHOTO, lambda media_id: kept.clear() if media_id is None else kept.forget(media_id))
    # An account blocked, deleted or moved: which photos are theirs is not known here, and that is rare
    # enough that refilling the memory costs nothing.
    cluster.listen(app, cluster.ACCOUNT, lambda _user_id: kept.clear())


def memory(app=None) -> ShortLived:
    """What this instance answers from without a query: public sizes and originals, and owners' signed sizes
    (signed.py), within one byte budget; what is announced under cluster.PHOTO and ACCOUNT empties it."""
    extensions = (app or current_app).extensions
    if "shoebox_public_blobs" not in extensions:
        extensions.setdefault("shoebox_public_blobs", ShortLived(PUBLIC_BLOB_SECONDS, max_weight=PUBLIC_BLOB_MEMORY))
    return extensions["shoebox_public_blobs"]


def usable_memory() -> ShortLived | None:
    """memory(), or None while this instance cannot hear of changes made elsewhere (then the database answers)."""
    return memory() if cluster.memory_usable() else None


def download_name(media: Media, ext: str | None = None) -> str:
    """The name a saved copy gets: the original's stem with `ext` (the stored extension by default)."""
    name = media.original_name
    ext = ext or media.ext
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{stem}.{ext}" if ext else name


def get_many_for(owner: User, media_ids: list[str]) -> list[Media]:
    """The same door for a selection: every id must be a photo `owner` may manage, or NotFound.

    Returned in the order given, without repeats.
    """
    wanted = list(dict.fromkeys(str(media_id) for media_id in media_ids))
    if not wanted:
        raise InvalidInput(_("Select at least one photo."), code="no_images")
    if len(wanted) > MAX_SELECTION:
        raise InvalidInput(_("Select at most %(n)s photos at a time.", n=MAX_SELECTION), code="too_many_images")
    found = {media.id: media for media in db.session.scalars(select(Media).where(Media.id.in_(wanted)))}
    if any(media_id not in found or found[media_id].user_id != owner.id for media_id in wanted):
        raise NotFound(_("One or more of those photos do not exist."), code="image_not_found")
    return [found[media_id] for media_id in wanted]


def _load(viewer, media_id: str, manage: bool = False, preset_name: str | None = None):
    if not media_id or len(media_id) > 22:
        raise NotFound()
    query = select(Media, Variant).outerjoin(Variant, and_(Variant.media_id == Media.id,
                                                           Variant.spec == preset_name)) \
        if preset_name else select(Media, null())
    # The owner's account state rides along (a join on its key): a blocked owner's public photos answer 404.
    query = query.add_columns(User.is_blocked).join(User, User.id == Media.user_id)
    row = db.session.execute(query.where(Media.id == media_id)).first()
    if row is None:
        raise NotFound()
    media, owner_blocked = row[0], row[2]
    owner = viewer is not None and viewer.is_authenticated and viewer.id == media.user_id
    if owner or (media.is_public and not manage and not owner_blocked):
        return media, row[1]
    raise NotFound()


def make_preset(media: Media, name: str, *, slot: threading.BoundedSemaphore = IMAGE_WORK) -> Variant:
    """Render and cache preset `name` (decoding in one of `slot`'s places); a request racing this one for the same
    size wins harmlessly. A video's sizes are made from its poster."""
    with tempfile.TemporaryDirectory(dir=_work_dir()) as work:
        source, key = Path(work) / "original", _size_source(media)
        with blob_store().open(key) as blob, source.open("wb") as out:
            _copy_stream(blob, out)
        if media.kind == "video" and key == media.storage_key:
            source = _poster_from_video(source, Path(work))
        variant = _render_preset(media, source, name, slot)
    db.session.add(variant)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return db.session.scalar(select(Variant).where(Variant.media_id == media.id, Variant.spec == name))
    return variant


def _size_source(media: Media) -> str:
    """The storage key sizes of `media` are made from: the image itself, a video's poster, or the video
    itself when its poster is gone."""
    if media.kind != "video":
        return media.storage_key
    key = db.session.scalar(select(Variant.storage_key).where(Variant.media_id == media.id, Variant.spec == POSTER))
    return key or media.storage_key


def _poster_from_video(source: Path, work: Path) -> Path:
    """The video's poster frame decoded again, as a lossless picture in `work`."""
    try:
        with IMAGE_WORK:
            poster = video.probe_video(source, _video_limits()).poster
    except video.VideoError as error:
        raise _video_refusal(error) from None
    path = work / "poster.png"
    poster.save(path, "PNG", compress_level=1)
    return path


def update_media(media: Media, *, title: str | None = None, description: str | None = None,
                 is_public: bool | None = None) -> None:
    """Change what the owner may change about a photo."""
    if title is not None:
        media.title = " ".join(str(title).split())[:200]
    if description is not None:
        if len(description) > 5000:
            raise InvalidInput(_("A description has at most 5000 characters."), code="description_too_long",
                               field="description")
        media.description = description
    changed = sorted(name for name, value in (("title", title), ("description", description)) if value is not None)
    if changed:
        audit.record("media_updated", media.user_id, target=f"media:{media.id}", fields=changed)
    if is_public is not None and bool(is_public) != media.is_public:
        audit.record("media_made_public" if is_public else "media_made_private", media.user_id,
                     target=f"media:{media.id}", count=1)
    if is_public is not None:
        media.is_public = bool(is_public)
    db.session.commit()
    forget(media.id)


def delete_media(media: Media) -> None:
    """Delete a photo with every size made from it, and give its storage back exactly once.

    NotFound when a request racing this one deleted it first (see delete_many()).
    """
    if not delete_many([media]):
        raise NotFound()


def delete_many(chosen: list[Media]) -> int:
    """Delete photos with all their sizes, each giving its storage back exactly once; returns how many.

    Each row's DELETE decides: a photo that a racing request deleted first is skipped and releases
    nothing. Storage is checked first, so while it is down nothing changes; a blob that still cannot
    be removed after its row is gone is an orphan, which the integrity check removes.
    """
    blob_store().check()
    # Plain values first: each commit below expires the rows, and a racing request may delete one.
    doomed = [(media.id, media.user_id, media.size, media.storage_key) for media in chosen]
    for media in chosen:
        db.session.expunge(media)
    keys, deleted = [], 0
    for media_id, user_id, size, storage_key in doomed:
        variant_keys = _delete_row(media_id, user_id, size)
        if variant_keys is not None:
            keys += [storage_key, *variant_keys]
            deleted += 1
    _delete_blobs(keys)
    return deleted


def _delete_row(media_id: str, user_id: int, size: int) -> list[str] | None:
    """Delete one photo's row (its sizes go with it), release its storage and count in one transaction.

    Returns the keys of its sizes' blobs, or None when a racing request deleted it first.
    """
    variant_keys = list(db.session.scalars(select(Variant.storage_key).where(Variant.media_id == media_id)))
    if db.session.execute(delete(Media).where(Media.id == media_id)).rowcount != 1:
        db.session.rollback()
        return None
    quota.release_storage(user_id, size, commit=False)
    _count(user_id, -1)
    audit.record("media_deleted", user_id, target=f"media:{media_id}")
    db.session.commit()
    forget(media_id)
    return variant_keys


def _delete_blobs(keys: list[str]) -> None:
    """Remove blobs whose rows are gone; a failure is logged and left to the integrity check."""
    for key in keys:
        try:
            blob_store().delete(key)
        except StorageError:
            log.warning("Could not delete blob %s; the integrity check will remove it.", key, exc_info=True)


def _count(user_id: int, change: int) -> None:
    """Keep users.media_count in step, in the caller's transaction (one UPDATE, safe under concurrency)."""
    db.session.execute(update(User).where(User.id == user_id).values(media_count=User.media_count + change))


def owned_keys(user: User) -> list[str]:
    """Storage keys of everything `user` owns, for the account purge."""
    rows = db.session.execute(select(Media.storage_key).where(Media.user_id == user.id)).scalars().all()
    variants = db.session.execute(select(Variant.storage_key).join(Media).where(Media.user_id == user.id)) \
        .scalars().all()
    return list(rows) + list(variants)


# --- small helpers ----------------------------------------------------------------------------

def _safe_ext(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return ext if ext.isalnum() and len(ext) <= 8 else ""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_stream(fin, fout) -> None:
    for chunk in iter(lambda: fin.read(1 << 20), b""):
        fout.write(chunk)
