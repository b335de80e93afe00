"""Configuration: defaults, config.example.toml, TOML file, SHOEBOX_* environment, validation, secrets."""

from __future__ import annotations

import logging
import os
import re
import stat
import subprocess
import sys
import threading
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from webapp.config import DEFAULTS, ConfigError, _flatten, load_settings, secret_from_data_dir

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"
KEY_LINE = re.compile(r"^# (\w+) = (.*)$")
SECTION_LINE = re.compile(r"^\[(\w+)\]\s*$")


def load(overrides=None, environ=None, config_file=None) -> dict:
    """load_settings with nothing from the real environment or ./config.toml unless asked."""
    return load_settings(overrides=overrides, environ=environ or {}, config_file=config_file)


def documented_keys(text: str) -> dict:
    """{"section.key": value} for every `# key = value` line of the example, value parsed as TOML."""
    found, section = {}, None
    for number, line in enumerate(text.splitlines(), 1):
        if header := SECTION_LINE.match(line):
            section = header.group(1)
        elif key_line := KEY_LINE.match(line):
            key = f"{section}.{key_line.group(1)}" if section else key_line.group(1)
            assert key not in found, f"config.example.toml documents {key} twice (line {number})"
            found[key] = tomllib.loads(f"value = {key_line.group(2)}")["value"]
    return found


def uncommented(text: str) -> str:
    return re.sub(r"^# (\w+ = )", r"\1", text, flags=re.MULTILINE)


def assert_one_sentence_naming(message: str, name: str) -> None:
    assert name in message, message
    assert "\n" not in message, message
    assert message[0].isupper() and message.endswith("."), message
    assert not re.search(r"[.!?]\s+[A-Z]", message), f"more than one sentence: {message}"


# --- config.example.toml ---

def test_example_documents_every_key_with_its_default():
    documented = documented_keys(EXAMPLE.read_text())

    assert set(documented) == set(_flatten(DEFAULTS))
    for key, default in _flatten(DEFAULTS).items():
        assert documented[key] == default, f"config.example.toml shows {key} = {documented[key]!r}, default {default!r}"


def test_example_loaded_as_is_gives_the_defaults(caplog):
    with caplog.at_level(logging.WARNING, logger="webapp.config"):
        settings = load(config_file=EXAMPLE)

    assert settings == load()
    assert not caplog.records


def test_example_with_every_key_uncommented_gives_exactly_the_defaults(tmp_path, caplog):
    text = uncommented(EXAMPLE.read_text())
    assert tomllib.loads(text) == DEFAULTS
    path = tmp_path / "config.toml"
    path.write_text(text)

    with caplog.at_level(logging.WARNING, logger="webapp.config"):
        settings = load(config_file=path)

    assert settings == load()
    assert not caplog.records


def test_example_states_the_environment_rule_and_scale_out_examples():
    text = EXAMPLE.read_text()
    for needle in ("SHOEBOX_DATABASE__URL", "SHOEBOX_DATA_DIR", "SHOEBOX_CONFIG", "config.toml",
                   "postgresql://user:pass@host/db", "s3://", "backblazeb2.com", "redis://127.0.0.1:6379/0"):
        assert needle in text


# --- sources and precedence ---

def test_environment_sets_database_url_and_data_dir(tmp_path):
    settings = load(environ={"SHOEBOX_DATABASE__URL": "postgresql://shoebox:pw@db/shoebox",
                             "SHOEBOX_DATA_DIR": str(tmp_path / "box")})

    assert settings["database"]["url"] == "postgresql+psycopg://shoebox:pw@db/shoebox"
    assert settings["data_dir"] == str((tmp_path / "box").resolve())


@pytest.mark.parametrize("text, expected", [("false", False), ("0", False), ("off", False),
                                            ("true", True), ("yes", True), ("ON", True)])
def test_environment_flags_accept_words(text, expected):
    assert load(environ={"SHOEBOX_SCHEDULER__ENABLED": text})["scheduler"]["enabled"] is expected


@pytest.mark.parametrize("text, expected", [("10 MB", 10_000_000), ("2GiB", 2 * 1024**3),
                                            ("1.5 KiB", 1536), ("4096", 4096)])
def test_environment_sizes_accept_units(text, expected):
    assert load(environ={"SHOEBOX_LIMITS__MAX_UPLOAD_BYTES": text})["limits"]["max_upload_bytes"] == expected


def test_environment_numbers_become_numbers():
    settings = load(environ={"SHOEBOX_SERVER__PORT": "9000", "SHOEBOX_LOGGING__LEVEL": "DEBUG"})

    assert settings["server"]["port"] == 9000
    assert settings["logging"]["level"] == "debug"


def test_toml_file_is_read_and_environment_beats_it_and_overrides_beat_both(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[server]\nhost = "127.0.0.1"\nport = 9000\n[mail]\nhost = "smtp.lan"\n')
    environ = {"SHOEBOX_SERVER__PORT": "9100", "SHOEBOX_MAIL__HOST": "smtp.env"}

    from_file = load(config_file=path)
    from_env = load(environ=environ, config_file=path)
    from_overrides = load({"server": {"port": 9200}}, environ=environ, config_file=path)

    assert (from_file["server"]["host"], from_file["server"]["port"], from_file["mail"]["host"]) == \
        ("127.0.0.1", 9000, "smtp.lan")
    assert (from_env["server"]["host"], from_env["server"]["port"], from_env["mail"]["host"]) == \
        ("127.0.0.1", 9100, "smtp.env")
    assert (from_overrides["server"]["port"], from_overrides["mail"]["host"]) == (9200, "smtp.env")


def test_file_is_found_through_shoebox_config(tmp_path):
    path = tmp_path / "elsewhere.toml"
    path.write_text("[server]\nport = 9300\n")

    assert load_settings(environ={"SHOEBOX_CONFIG": str(path)})["server"]["port"] == 9300


def test_file_is_found_as_config_toml_in_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "config.toml").write_text("[server]\nport = 9400\n")
    monkeypatch.chdir(tmp_path)

    assert load_settings(environ={})["server"]["port"] == 9400
    assert load_settings(environ={}, config_file=None)["server"]["port"] == 8080


def test_unknown_keys_are_warned_about_and_ignored(tmp_path, caplog):
    path = tmp_path / "config.toml"
    path.write_text('colour = "blue"\n[server]\nportt = 1\n[gallery]\nsize = 3\n')

    with caplog.at_level(logging.WARNING, logger="webapp.config"):
        settings = load({"server": {"hots": "x"}}, environ={"SHOEBOX_SERVER_PORT": "1"}, config_file=path)

    assert settings == load()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for key in ("colour", "server.portt", "gallery.size", "server_port", "server.hots"):
        assert any(f"key {key} " in message for message in warnings), (key, warnings)
    assert all(record.name == "webapp.config" for record in caplog.records)


def test_shoebox_config_itself_is_not_an_unknown_key(tmp_path, caplog):
    path = tmp_path / "config.toml"
    path.write_text("")

    with caplog.at_level(logging.WARNING, logger="webapp.config"):
        load_settings(environ={"SHOEBOX_CONFIG": str(path)})

    assert not caplog.records


# --- bad values: one sentence that names the key ---

@pytest.mark.parametrize("key, overrides, environ", [
    ("storage.url", None, {"SHOEBOX_STORAGE__URL": "ftp://x"}),
    ("backups.target", {"backups": {"target": "dropbox://x"}}, None),
    ("server.max_request_bytes", None, {"SHOEBOX_SERVER__MAX_REQUEST_BYTES": "-5 MB"}),
    ("limits.max_upload_bytes", {"limits": {"max_upload_bytes": -1}}, None),
    ("limits.max_upload_bytes", None, {"SHOEBOX_LIMITS__MAX_UPLOAD_BYTES": "lots"}),
    ("server.port", None, {"SHOEBOX_SERVER__PORT": "eighty"}),
    ("server.port", {"server": {"port": 70000}}, None),
    ("database.url", {"database": {"url": "mysql://user:hunter2@db/shoebox"}}, None),
    ("server.base_url", {"server": {"base_url": "photos.example.com"}}, None),
    ("mail.security", {"mail": {"security": "tls"}}, None),
    ("scheduler.enabled", None, {"SHOEBOX_SCHEDULER__ENABLED": "maybe"}),
    ("limits.storage_url", {"limits": {"storage_url": "memcached://x"}}, None),
    ("i18n.default_locale", {"i18n": {"default_locale": "xx"}}, None),
])
def test_bad_value_stops_with_one_sentence_naming_the_key(key, overrides, environ):
    with pytest.raises(ConfigError) as caught:
        load(overrides, environ=environ)

    assert_one_sentence_naming(str(caught.value), key)
    assert "hunter2" not in str(caught.value)


def test_wrong_type_in_toml_file_names_the_key(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[server]\nport = "eighty"\n')

    with pytest.raises(ConfigError) as caught:
        load(config_file=path)

    assert_one_sentence_naming(str(caught.value), "server.port")


@pytest.mark.parametrize("content", [b"[server\nport = 1\n", b"port = = 8080\n", b"\xff\xfe not utf-8\n"])
def test_invalid_toml_file_names_the_file(tmp_path, content):
    path = tmp_path / "config.toml"
    path.write_bytes(content)

    with pytest.raises(ConfigError) as caught:
        load(config_file=path)

    assert_one_sentence_naming(str(caught.value), str(path))
    assert "not valid TOML" in str(caught.value)


def test_missing_shoebox_config_file_names_the_variable_and_the_file(tmp_path):
    path = tmp_path / "nowhere.toml"

    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"SHOEBOX_CONFIG": str(path)})

    assert_one_sentence_naming(str(caught.value), "SHOEBOX_CONFIG")
    assert str(path) in str(caught.value)


def test_shoebox_config_naming_a_folder_is_one_sentence(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"SHOEBOX_CONFIG": str(tmp_path)})

    assert_one_sentence_naming(str(caught.value), "SHOEBOX_CONFIG")


# --- normalised and derived values ---

@pytest.mark.parametrize("given", ["postgres://u:p@db:5432/shoebox", "postgresql://u:p@db:5432/shoebox",
                                   "postgresql+psycopg2://u:p@db:5432/shoebox"])
def test_postgres_urls_use_psycopg_3(given):
    url = load({"database": {"url": given}})["database"]["url"]

    assert url == "postgresql+psycopg://u:p@db:5432/shoebox"


def test_derived_defaults_follow_data_dir(tmp_path):
    box = (tmp_path / "box").resolve()

    settings = load(environ={"SHOEBOX_DATA_DIR": str(box), "SHOEBOX_SERVER__PORT": "9000"})

    assert settings["database"]["url"] == f"sqlite:///{box / 'shoebox.db'}"
    assert settings["storage"]["url"] == (box / "files").as_uri() == f"file://{box}/files"
    assert settings["backups"]["target"] == (box / "backups").as_uri()
    assert settings["server"]["base_url"] == "http://localhost:9000"
    assert settings["storage"]["region"] == ""


def test_relative_data_dir_is_resolved_against_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    settings = load()

    assert settings["data_dir"] == str((tmp_path / "data").resolve())
    assert settings["storage"]["url"] == (tmp_path / "data" / "files").resolve().as_uri()


def test_explicit_values_are_not_replaced_by_derived_ones(tmp_path):
    settings = load({"data_dir": str(tmp_path), "storage": {"url": "s3://bucket/prefix"},
                     "backups": {"target": "s3://backups"}, "server": {"base_url": "https://photos.example.com/"}})

    assert settings["storage"]["url"] == "s3://bucket/prefix"
    assert settings["storage"]["region"] == "us-east-1"
    assert settings["backups"]["target"] == "s3://backups"
    assert settings["server"]["base_url"] == "https://photos.example.com"
    assert settings["database"]["url"] == f"sqlite:///{tmp_path.resolve() / 'shoebox.db'}"


# --- secrets generated into the data directory ---

def test_secret_is_created_once_with_mode_600(tmp_path):
    first = secret_from_data_dir(tmp_path, "secret_key")
    second = secret_from_data_dir(tmp_path, "secret_key")

    path = tmp_path / "secret_key"
    assert first == second
    assert len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret_key"]


def test_different_secrets_are_different(tmp_path):
    assert secret_from_data_dir(tmp_path, "secret_key") != secret_from_data_dir(tmp_path, "token_key")


def test_concurrent_first_calls_agree_on_one_secret(tmp_path):
    threads = 8
    for attempt in range(20):
        folder = tmp_path / f"data{attempt}"
        folder.mkdir()
        barrier = threading.Barrier(threads)

        def read_secret(barrier, folder):
            barrier.wait()
            return secret_from_data_dir(folder, "secret_key")

        with ThreadPoolExecutor(threads) as pool:
            futures = [pool.submit(read_secret, barrier, folder) for _ in range(threads)]
            secrets = [future.result() for future in futures]

        assert len(set(secrets)) == 1
        assert (folder / "secret_key").read_text().strip() == secrets[0]
        assert sorted(p.name for p in folder.iterdir()) == ["secret_key"]


def test_truncated_secret_file_is_refused_with_one_sentence(tmp_path):
    (tmp_path / "secret_key").write_text("short\n")

    with pytest.raises(ConfigError) as caught:
        secret_from_data_dir(tmp_path, "secret_key")

    assert_one_sentence_naming(str(caught.value), str(tmp_path / "secret_key"))


# --- the command line ---

def run_check_config(tmp_path, **variables) -> subprocess.CompletedProcess:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    env = {name: value for name, value in os.environ.items() if not name.startswith("SHOEBOX_")}
    # An empty file stands in for any config.toml a developer keeps in the repository root.
    env.update(SHOEBOX_DATA_DIR=str(tmp_path / "data"), SHOEBOX_CONFIG=str(empty), **variables)
    return subprocess.run([sys.executable, "-m", "webapp", "check-config"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_check_config_reports_a_bad_key_in_one_line_and_exits_2(tmp_path):
    result = run_check_config(tmp_path, SHOEBOX_STORAGE__URL="ftp://x")

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "storage.url" in lines[0]


def test_check_config_accepts_a_good_configuration(tmp_path):
    result = run_check_config(tmp_path, SHOEBOX_STORAGE__URL="memory://check")

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "valid" in result.stdout
