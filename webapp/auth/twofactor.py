"""Two-factor login with TOTP (authenticator apps) and one-time recovery codes."""

from __future__ import annotations

import base64
import io
import secrets
import time

import pyotp
import qrcode
import qrcode.image.svg
from flask_babel import gettext as _
from sqlalchemy import delete, select, update

from ..errors import InvalidInput
from ..extensions import db
from ..models import RecoveryCode, User, utcnow
from .tokens import digest

ISSUER = "Shoebox"
RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: codes are typed from paper


def begin_enrolment(user: User) -> str:
    """Make (or keep) a pending secret for `user` to scan; the caller commits."""
    if user.totp_pending_secret is None:
        user.totp_pending_secret = pyotp.random_base32()
    return user.totp_pending_secret


def provisioning_uri(user: User, issuer: str = ISSUER) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(user.totp_pending_secret).provisioning_uri(name=user.email, issuer_name=issuer)


def qr_data_uri(text: str) -> str:
    """`text` as a QR code SVG in a data: URI (allowed by our CSP, no inline markup needed)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def confirm_enrolment(user: User, code: str) -> list[str]:
    """Turn two-factor on once a code from the pending secret checks out; returns fresh recovery codes."""
    if user.totp_pending_secret is None:
        raise InvalidInput(_("Start two-factor setup first."), code="totp_not_started", field="code")
    step = _matching_step(user.totp_pending_secret, code, after=0)
    if step is None:
        raise InvalidInput(_("That code is not right. Check the time on your phone and try the newest code."),
                           code="otp_invalid", field="code")
    user.totp_secret, user.totp_pending_secret, user.totp_last_step = user.totp_pending_secret, None, step
    return new_recovery_codes(user)


def disable(user: User) -> None:
    """Turn two-factor off and throw away the recovery codes; the caller has checked password and code."""
    user.totp_secret = user.totp_pending_secret = None
    user.totp_last_step = 0
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def new_recovery_codes(user: User) -> list[str]:
    """Replace the recovery codes of `user` with ten new ones, returned this once."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = ["-".join("".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(3))
             for _ in range(RECOVERY_CODES)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=digest(code)) for code in codes)
    return codes


def remaining_recovery_codes(user: User) -> int:
    """How many recovery codes `user` has left."""
    return len(db.session.scalars(select(RecoveryCode.id).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))).all())


def verify(user: User, code: str) -> bool:
    """Whether `code` is a current TOTP code not used before, or an unused recovery code. Uses it up."""
    code = (code or "").strip().replace(" ", "")
    if not user.has_two_factor or not code:
        return False
    if code.isdigit():
        step = _matching_step(user.totp_secret, code, after=user.totp_last_step)
        # Conditional update: two requests racing with the same code cannot both win.
        return step is not None and db.session.execute(
            update(User).where(User.id == user.id, User.totp_last_step < step).values(totp_last_step=step)
        ).rowcount == 1
    return db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash == digest(code.lower()),
               RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
    ).rowcount == 1


def _matching_step(secret: str, code: str, after: int) -> int | None:
    """The 30-second step (now, or one either side for clock drift) whose code is `code`, if later than `after`."""
    code = (code or "").strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    current = int(time.time()) // totp.interval
    for step in (current, current - 1, current + 1):
        if step > after and secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None
