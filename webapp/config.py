"""Configuration: built-in defaults, a TOML file, SHOEBOX_* environment overrides, validation.

Every key has a default here and a commented line in config.example.toml. A wrong value
stops start-up with one sentence that names the key; an unknown key only warns.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

ENV_PREFIX = "SHOEBOX_"
# Environment variables that configure how configuration is found, not configuration keys.
ENV_NOT_KEYS = {"SHOEBOX_CONFIG"}

MiB = 1024 * 1024
# The UI's languages; "pt_BR" is Brazilian Portuguese. Arabic pages are right to left.
SUPPORTED_LOCALES = ("en", "de", "fr", "es", "pt_BR", "ar")
RTL_LOCALES = ("ar",)

DEFAULTS: dict = {
    "data_dir": "./data",
    "server": {
        "host": "0.0.0.0",
        "port": 8080,
        "base_url": "",
        "threads": 8,
        "trusted_proxies": 0,
        "max_request_bytes": 512 * MiB,
        "connection_limit": 1000,
        "header_timeout": 20,
        "read_timeout": 60,
        "accel_redirect": "",
        "drain_seconds": 30,
    },
    "database": {
        "url": "",
        "auto_migrate": True,
        "echo": False,
    },
    "storage": {
        "url": "",
        "endpoint_url": "",
        "key": "",
        "secret": "",
        "region": "",
        "redirect_to_presigned": False,
        "presign_seconds": 300,
    },
    "backups": {
        "target": "",
        "passphrase": "",
    },
    "mail": {
        "host": "",
        "port": 587,
        "security": "starttls",
        "username": "",
        "password": "",
        "sender": "Shoebox <shoebox@localhost>",
        "timeout": 10,
    },
    "limits": {
        "storage_url": "memory://",
        "max_upload_bytes": 100 * MiB,
        "max_image_memory": 256 * MiB,
        "default": "",
    },
    "cluster": {
        "redis_url": "",
    },
    "jobs": {
        "workers": 1,
        "lease_seconds": 60,
        "poll_seconds": 5,
    },
    "scheduler": {
        "enabled": True,
        "heartbeat_seconds": 60,
        "misfire_grace_seconds": 3600,
    },
    "security": {
        "secret_key": "",
        "token_key": "",
        "secure_cookies": "auto",
        "session_days": 30,
        "access_token_minutes": 15,
        "refresh_token_days": 30,
        "allow_private_fetch": False,
    },
    "logging": {
        "level": "INFO",
        "json": False,
    },
    "i18n": {
        "default_locale": "en",
    },
    "transforms": {
        "max_side": 8192,
        "max_pixels": 40_000_000,
    },
    "fetch": {
        "max_concurrent": 0,
        "per_user": 2,
        "timeout_seconds": 20,
    },
    "analytics": {
        "retention_days": 90,
    },
    "oidc": {
        "issuer": "",
        "client_id": "",
        "client_secret": "",
        "button_label": "Sign in with single sign-on",
        "allow_linking": False,
        "groups_claim": "",
        "password_login": True,
    },
    "errors": {
        "sentry_dsn": "",
        "environment": "",
        "traces_sample_rate": 0.0,
        "slow_request_ms": 2000,
        "send_default_pii": False,
    },
}


class ConfigError(Exception):
    """A configuration value that Shoebox cannot start with; str() is one readable sentence."""


# --- value checks: each takes the raw value and returns the clean one or raises ValueError ---

def _text(value):
    if not isinstance(value, str):
        raise ValueError("must be text")
    return value.strip()


def _flag(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
        return value.strip().lower() in {"1", "true", "yes", "on"}
    raise ValueError("must be true or false")


def _whole(minimum=0, maximum=None):
    def check(value):
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be a whole number")
        if value < minimum:
            raise ValueError(f"must be at least {minimum}, not {value}")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be at most {maximum}, not {value}")
        return value
    return check


_SIZE_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
               "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}


def _size(value):
    """A byte count: a whole number, or text such as "100 MB" or "2GiB"."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", value)
        if not match or match.group(2).lower() not in _SIZE_UNITS:
            raise ValueError(f"must be a size such as 100 MB, not {value!r}")
        value = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a size in bytes")
    if value < 0:
        raise ValueError(f"must not be negative, not {value}")
    return value


def _size_at_least(minimum: int):
    def check(value):
        value = _size(value)
        if value < minimum:
            raise ValueError(f"must be at least {minimum // MiB} MiB, not {value}")
        return value
    return check


def _one_of(*choices):
    def check(value):
        text = str(value).strip().lower() if not isinstance(value, bool) else value
        if text not in choices:
            raise ValueError("must be one of " + ", ".join(str(c) for c in choices) + f", not {value!r}")
        return text
    return check


def _fraction(value):
    """A number from 0 to 1, such as 0.25."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be a number from 0 to 1, not {value!r}") from None
    if isinstance(value, bool) or not 0 <= number <= 1:
        raise ValueError(f"must be a number from 0 to 1, not {value!r}")
    return number


def _http_url(value, *, empty_ok=True):
    value = _text(value).rstrip("/")
    if not value and empty_ok:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"must be an http:// or https:// address, not {value!r}")
    if parts.query or parts.fragment:
        raise ValueError("must not contain a query or fragment")
    return value


def _internal_prefix(value):
    value = _text(value)
    if value and not (re.fullmatch(r"/[A-Za-z0-9._~/-]+", value) and value.strip("/")):
        raise ValueError(f"must be empty or a path such as \"/_shoebox/files/\", not {value!r}")
    return value.rstrip("/") + "/" if value else ""


def _database_url(value):
    value = _text(value)
    if not value:
        return ""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(f"is not a database URL: {value!r}") from None
    backend = url.get_backend_name()
    # "postgres://" is what Heroku-style hosts and many docs hand out; SQLAlchemy no longer accepts it.
    if backend in {"postgresql", "postgres"}:
        return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return value
    raise ValueError(f"must be a sqlite:/// or postgresql:// URL, not {backend}://")


def _store_url(value):
    value = _text(value)
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in {"file", "s3", "memory"}:
        raise ValueError(f"uses the unknown storage scheme {parts.scheme + '://' if parts.scheme else value!r}; "
                         "use file://, s3:// or memory://")
    if parts.scheme == "s3" and not parts.netloc:
        raise ValueError("must name a bucket, as in s3://bucket/prefix")
    if parts.scheme == "file" and not parts.path:
        raise ValueError("must name a folder, as in file:///data/files")
    return value


def _limits_url(value):
    value = _text(value)
    if urlsplit(value).scheme not in {"memory", "redis", "rediss", "redis+unix"}:
        raise ValueError(f"must be memory:// or a redis:// URL, not {value!r}")
    return value


def _redis_url(value):
    value = _text(value)
    if value and urlsplit(value).scheme not in {"redis", "rediss", "redis+unix", "unix"}:
        raise ValueError(f"must be empty or a redis:// URL, not {value!r}")
    return value


def _secure_cookies(value):
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        return _flag(value)
    except ValueError:
        raise ValueError("must be auto, true or false") from None


CHECKS = {
    "data_dir": _text,
    "server.host": _text,
    "server.port": _whole(1, 65535),
    "server.base_url": _http_url,
    "server.threads": _whole(1, 256),
    "server.trusted_proxies": _whole(0, 10),
    "server.max_request_bytes": _size,
    "server.connection_limit": _whole(10, 100_000),
    "server.header_timeout": _whole(1, 3600),
    "server.read_timeout": _whole(1, 24 * 3600),
    "server.accel_redirect": _internal_prefix,
    "server.drain_seconds": _whole(0, 3600),
    "database.url": _database_url,
    "database.auto_migrate": _flag,
    "database.echo": _flag,
    "storage.url": _store_url,
    "storage.endpoint_url": _http_url,
    "storage.key": _text,
    "storage.secret": _text,
    "storage.region": _text,
    "storage.redirect_to_presigned": _flag,
    "storage.presign_seconds": _whole(1, 7 * 24 * 3600),
    "backups.target": _store_url,
    "backups.passphrase": _text,
    "cluster.redis_url": _redis_url,
    "jobs.workers": _whole(0, 32),
    "jobs.lease_seconds": _whole(10, 3600),
    "jobs.poll_seconds": _whole(1, 300),
    "mail.host": _text,
    "mail.port": _whole(1, 65535),
    "mail.security": _one_of("none", "starttls", "ssl"),
    "mail.username": _text,
    "mail.password": _text,
    "mail.sender": _text,
    "mail.timeout": _whole(1, 600),
    "limits.storage_url": _limits_url,
    "limits.max_upload_bytes": _size,
    "limits.max_image_memory": _size_at_least(16 * MiB),
    "limits.default": _text,
    "scheduler.enabled": _flag,
    "scheduler.heartbeat_seconds": _whole(5, 3600),
    "scheduler.misfire_grace_seconds": _whole(1),
    "security.secret_key": _text,
    "security.token_key": _text,
    "security.secure_cookies": _secure_cookies,
    "security.session_days": _whole(1, 400),
    "security.access_token_minutes": _whole(1, 24 * 60),
    "security.refresh_token_days": _whole(1, 400),
    "security.allow_private_fetch": _flag,
    "logging.level": _one_of("debug", "info", "warning", "error"),
    "logging.json": _flag,
    "i18n.default_locale": _one_of(*SUPPORTED_LOCALES),
    "transforms.max_side": _whole(16, 65_535),
    "transforms.max_pixels": _whole(256, 1_000_000_000),
    "fetch.max_concurrent": _whole(0, 255),
    "fetch.per_user": _whole(1, 255),
    "fetch.timeout_seconds": _whole(1, 600),
    "analytics.retention_days": _whole(1, 3650),
    "oidc.issuer": _http_url,
    "oidc.client_id": _text,
    "oidc.client_secret": _text,
    "oidc.button_label": _text,
    "oidc.allow_linking": _flag,
    "oidc.groups_claim": _text,
    "oidc.password_login": _flag,
    "errors.sentry_dsn": _text,
    "errors.environment": _text,
    "errors.traces_sample_rate": _fraction,
    "errors.slow_request_ms": _whole(0, 600_000),
    "errors.send_default_pii": _flag,
}


def _flatten(tree: dict) -> dict:
    """{"server": {"port": 1}} -> {"server.port": 1}; sections are one level deep."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{sub}": v for sub, v in value.items()})
        else:
            flat[key] = value
    return flat


_SECTIONS = {key for key, value in DEFAULTS.items() if isinstance(value, dict)}

# Other stores the files can be moved to ([stores.<name>] tables, each with the keys of [storage]).
# "storage" names the [storage] table itself.
STORE_FIELDS = ("url", "endpoint_url", "key", "secret", "region")
MAIN_STORE = "storage"
_STORE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


def _read_file(path: Path, named_by: str = "") -> dict:
    """Parse the TOML file; `named_by` says where its name came from, for the error message."""
    where = f"The configuration file {path}" + (f" (named by {named_by})" if named_by else "")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{where} does not exist.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}.") from None
    except OSError as exc:  # a folder, or a file this user may not read
        raise ConfigError(f"{where} cannot be read: {exc.strerror or exc}.") from None


def _from_environ(environ) -> dict:
    flat = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in ENV_NOT_KEYS:
            continue
        flat[name[len(ENV_PREFIX):].lower().replace("__", ".")] = value
    return flat


def config_file_path(environ) -> Path | None:
    """The file to read: $SHOEBOX_CONFIG, else ./config.toml when it exists."""
    if environ.get("SHOEBOX_CONFIG"):
        return Path(environ["SHOEBOX_CONFIG"])
    default = Path("config.toml")
    return default if default.exists() else None


def load_settings(overrides: dict | None = None, environ=None, config_file: Path | None | bool = True) -> dict:
    """Merge defaults, file, environment and overrides (in that order) and validate the result."""
    environ = os.environ if environ is None else environ
    flat = _flatten(DEFAULTS)
    layers = []
    path = config_file_path(environ) if config_file is True else (config_file or None)
    if path is not None:
        named_by = "SHOEBOX_CONFIG" if config_file is True and environ.get("SHOEBOX_CONFIG") else ""
        layers.append((f"{path}", _flatten(_read_file(Path(path), named_by))))
    layers.append(("the environment", _from_environ(environ)))
    layers.append(("overrides", _flatten(overrides or {})))
    stores: dict[str, dict] = {}
    for source, values in layers:
        for key, value in values.items():
            if key == "stores" or key.startswith("stores."):
                _take_store(stores, key, value)
                continue
            if key not in CHECKS:
                log.warning("Unknown configuration key %s in %s is ignored.", key, source)
                continue
            flat[key] = value
    clean = {}
    for key, value in flat.items():
        try:
            clean[key] = CHECKS[key](value)
        except ValueError as exc:
            raise ConfigError(f"Configuration key {key} {exc}.") from None
    settings = _nest(clean)
    settings["stores"] = _check_stores(stores)
    return _derive(settings)


def _take_store(stores: dict, key: str, value) -> None:
    """Collect "stores.<name>" tables (from the file) and "stores.<name>.<field>" values (from the environment)."""
    parts = key.split(".")
    if len(parts) == 2 and isinstance(value, dict):
        for field, field_value in value.items():
            _take_store(stores, f"{key}.{field}", field_value)
    elif len(parts) == 3:
        stores.setdefault(parts[1], {})[parts[2]] = value
    else:
        raise ConfigError(f"Configuration key {key} must be a table of a store's settings, as in "
                          "[stores.b2] with url = \"s3://bucket/prefix\".")


def _check_stores(stores: dict) -> dict:
    """Validate each [stores.<name>] table like [storage]; every one needs a url."""
    clean = {}
    for name, fields in stores.items():
        if not _STORE_NAME.fullmatch(name) or name == MAIN_STORE:
            raise ConfigError(f"Configuration table stores.{name} needs a name of lower-case letters, digits, - and _ "
                              f"(at most 32, and not {MAIN_STORE!r}).")
        table = {field: "" for field in STORE_FIELDS}
        for field, value in fields.items():
            if field not in STORE_FIELDS:
                raise ConfigError(f"Configuration key stores.{name}.{field} is not a store setting; use "
                                  + ", ".join(STORE_FIELDS) + ".")
            try:
                table[field] = CHECKS[f"storage.{field}"](value)
            except ValueError as exc:
                raise ConfigError(f"Configuration key stores.{name}.{field} {exc}.") from None
        if not table["url"]:
            raise ConfigError(f"Configuration key stores.{name}.url is missing: say where the store is.")
        if table["url"].startswith("s3://") and not table["region"]:
            table["region"] = "us-east-1"
        clean[name] = table
    return clean


def _nest(flat: dict) -> dict:
    tree: dict = {section: {} for section in _SECTIONS}
    for dotted, value in flat.items():
        section, _, key = dotted.partition(".")
        if key:
            tree[section][key] = value
        else:
            tree[section] = value
    return tree


def _derive(settings: dict) -> dict:
    """Fill the values whose defaults depend on other values (the data directory, the port)."""
    data_dir = Path(settings["data_dir"]).expanduser().resolve()
    settings["data_dir"] = str(data_dir)
    if not settings["database"]["url"]:
        settings["database"]["url"] = f"sqlite:///{data_dir / 'shoebox.db'}"
    if not settings["storage"]["url"]:
        settings["storage"]["url"] = (data_dir / "files").as_uri()
    if not settings["backups"]["target"]:
        settings["backups"]["target"] = (data_dir / "backups").as_uri()
    if not settings["server"]["base_url"]:
        settings["server"]["base_url"] = f"http://localhost:{settings['server']['port']}"
    if settings["storage"]["url"].startswith("s3://") and not settings["storage"]["region"]:
        settings["storage"]["region"] = "us-east-1"
    if settings["cluster"]["redis_url"] and settings["limits"]["storage_url"] == "memory://":
        # One Redis for everything several instances share: the rate limits follow it unless told otherwise.
        settings["limits"]["storage_url"] = settings["cluster"]["redis_url"]
    _derive_fetch_slots(settings)
    return settings


def _derive_fetch_slots(settings: dict) -> None:
    """Default fetch.max_concurrent to half of server.threads; refuse one that leaves no thread free."""
    fetch, threads = settings["fetch"], settings["server"]["threads"]
    if not fetch["max_concurrent"]:
        fetch["max_concurrent"] = max(1, threads // 2)
    elif fetch["max_concurrent"] >= threads:
        # URL uploads wait on other servers while holding a thread; all of them would leave none for /health.
        raise ConfigError(f"Configuration key fetch.max_concurrent must be less than server.threads ({threads}), "
                          "so that other requests always find a free thread.")


def secret_from_data_dir(data_dir: Path, name: str) -> str:
    """Read the secret `name` from the data directory, creating it (mode 600) on first use."""
    import secrets
    import tempfile

    path = Path(data_dir) / name
    if not path.exists():
        # Written aside and linked into place, so a second process starting at the same
        # moment reads either nothing or the whole secret, never half of it.
        fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48) + "\n")
            os.chmod(tmp, 0o600)
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    value = path.read_text().strip()
    if len(value) < 32:
        raise ConfigError(f"The secret file {path} holds fewer than 32 characters; delete it to make a new one.")
    return value


# Room for the multipart framing and form fields around an upload's file.
UPLOAD_FRAMING_BYTES = 1024 * 1024


def request_body_limit(settings: dict) -> int:
    """The largest request body Shoebox reads: server.max_request_bytes, and never more than one upload
    at the instance's cap (limits.max_upload_bytes) with its framing, since nothing else is bigger.

    The server refuses a larger declared body with 413 before reading any of it, whoever sends it.
    """
    request_limit, upload_limit = settings["server"]["max_request_bytes"], settings["limits"]["max_upload_bytes"]
    return min(request_limit, upload_limit + UPLOAD_FRAMING_BYTES) if upload_limit else request_limit

