"""docker-compose.yml and deploy/nginx-cluster.conf stay in step with scripts/cluster (Docker itself is not
needed: the files are read, and compared with what the supervisor gives its instances and nginx)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import pytest
import yaml

from tests.fixtures import ROOT
from webapp.config import load_settings, request_body_limit

COMPOSE = ROOT / "docker-compose.yml"
NGINX_CONF = ROOT / "deploy" / "nginx-cluster.conf"
# What differs by design: each instance's own folder, address and the file it reads (none in Docker).
PER_INSTANCE = {"SHOEBOX_CONFIG", "SHOEBOX_DATA_DIR", "SHOEBOX_SERVER__HOST", "SHOEBOX_SERVER__PORT"}


def _supervisor():
    spec = importlib.util.spec_from_file_location("shoebox_cluster_for_compose", ROOT / "scripts" / "cluster.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _cluster_env(tmp_path) -> dict[str, str]:
    supervisor = _supervisor()
    cluster = supervisor.Cluster(count=1, directory=tmp_path, database_url="postgresql://db/shoebox",
                                 redis_url="redis://redis:6379/0",
                                 s3=supervisor.S3("http://s3", "shoebox", "key", "secret", "us-east-1", "shoebox-alt"))
    cluster._secrets = {"secret_key": "s", "token_key": "t"}
    return cluster.env(0)


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_has_every_service_the_cluster_script_starts():
    services = _compose()["services"]
    assert {"postgres", "redis", "minio", "buckets", "shoebox", "nginx"} <= set(services)
    app = services["shoebox"]
    assert app["build"] == "."
    assert app["deploy"]["replicas"] == "${INSTANCES:-2}"  # INSTANCES, as for scripts/cluster
    assert {"postgres", "redis", "buckets"} <= set(app["depends_on"])
    assert "/health/ready" in " ".join(app["healthcheck"]["test"])
    # Long enough for the graceful stop: server.drain_seconds by default, then the jobs.
    drain = load_settings(environ={}, config_file=False)["server"]["drain_seconds"]
    assert int(app["stop_grace_period"].rstrip("s")) > drain
    bucket_command = " ".join(services["buckets"]["command"])
    assert "s3/shoebox " in bucket_command and "s3/shoebox-alt" in bucket_command
    assert "--save" in services["redis"]["command"] and "no" in services["redis"]["command"]
    assert services["nginx"]["volumes"] == ["./deploy/nginx-cluster.conf:/etc/nginx/nginx.conf:ro"]


def test_compose_gives_the_instances_the_settings_scripts_cluster_gives_them(tmp_path):
    compose_env = _compose()["services"]["shoebox"]["environment"]
    cluster_env = _cluster_env(tmp_path)
    assert set(compose_env) == set(cluster_env) - PER_INSTANCE
    for key in ("SHOEBOX_SCHEDULER__ENABLED", "SHOEBOX_SERVER__TRUSTED_PROXIES", "SHOEBOX_STORAGE__URL",
                "SHOEBOX_STORES__ALT__URL", "SHOEBOX_CLUSTER__REDIS_URL"):
        assert str(compose_env[key]) == cluster_env[key], key
    # One secret for all, which compose refuses to start without.
    assert compose_env["SHOEBOX_SECURITY__SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert compose_env["SHOEBOX_SECURITY__TOKEN_KEY"].startswith("${TOKEN_KEY:?")
    # The settings are valid Shoebox configuration, with compose's defaults filled in.
    filled = {k: re.sub(r"\$\{[A-Z_]+:[-?]([^}]*)\}", r"\1", str(v)) for k, v in compose_env.items()}
    settings = load_settings(environ=filled, config_file=False)
    assert settings["stores"]["alt"]["url"] == "s3://shoebox-alt/files"


def _proxy_lines(text: str) -> set[str]:
    """The lines that decide how requests are passed on (temporary folders aside)."""
    return {line.strip() for line in text.splitlines()
            if line.strip().startswith(("proxy_", "client_max_body")) and "_temp_path" not in line}


def test_nginx_config_matches_the_one_scripts_cluster_writes():
    conf = NGINX_CONF.read_text()
    generated = _supervisor().NGINX_TEMPLATE.format(user="", dir="/tmp/x", port=8080, upstream="",
                                                    body_limit=request_body_limit(
                                                        load_settings(environ={}, config_file=False)))
    assert _proxy_lines(conf) == _proxy_lines(generated)
    assert "proxy_next_upstream error timeout http_502;" in conf
    assert not re.search(r"^\s*keepalive\b", conf, re.M), "upstream keepalive would hide a stopping instance"
    assert re.search(r"server shoebox:8080 resolve max_fails=\d+", conf)


def test_nginx_accepts_the_compose_config(tmp_path):
    """nginx -t on it, with the Docker service name (and 1.27's `resolve`, newer than some nginx) swapped out."""
    nginx = _supervisor().NGINX
    if not nginx:
        pytest.skip("nginx is not installed")
    text = NGINX_CONF.read_text().replace("server shoebox:8080 resolve", "server 127.0.0.1:9")
    text = text.replace("events {", f"pid {tmp_path}/nginx.pid;\nevents {{", 1)
    (tmp_path / "nginx.conf").write_text(text)
    checked = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", "nginx.conf"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
