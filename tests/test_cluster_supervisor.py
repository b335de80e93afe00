"""scripts/cluster.py's decisions, without starting anything: which instances nginx is given, and its config."""

from __future__ import annotations

import importlib.util
import sys

from tests.fixtures import ROOT
from webapp.config import load_settings, request_body_limit


def _supervisor():
    spec = importlib.util.spec_from_file_location("shoebox_cluster_unit", ROOT / "scripts" / "cluster.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


supervisor = _supervisor()


def test_unready_instances_leave_the_rotation_while_another_is_ready():
    asked = []
    states = supervisor.in_rotation({0: True, 1: False, 2: True}, lambda index: asked.append(index) or True)
    assert states == {0: True, 1: False, 2: True} and asked == []


def test_when_none_is_ready_every_instance_that_still_answers_stays_in():
    # S3 down makes every /health/ready 503; pages still render, so nginx must not refuse everything.
    states = supervisor.in_rotation({0: False, 1: False, 2: False}, lambda index: index != 1)
    assert states == {0: True, 1: False, 2: True}


def test_nginx_config_marks_instances_down_and_allows_shoeboxs_largest_request(tmp_path):
    cluster = supervisor.Cluster(count=2, directory=tmp_path, database_url="postgresql://db/x", redis_url="redis://r",
                                 s3=supervisor.S3("http://s3", "b", "k", "s", "us-east-1"), lb_port=8081,
                                 settings={"SHOEBOX_LIMITS__MAX_UPLOAD_BYTES": str(300 * 1024 * 1024)})
    cluster._secrets = {"secret_key": "a", "token_key": "b"}
    cluster._nginx_dir = tmp_path
    cluster.instances[0].up, cluster.instances[1].up = True, False
    cluster._write_nginx_config()
    conf = (tmp_path / "nginx.conf").read_text()
    first, second = (f"127.0.0.1:{i.port}" for i in cluster.instances)
    assert f"server {first} max_fails=1 fail_timeout=2s;" in conf
    assert f"server {second} max_fails=1 fail_timeout=2s down;" in conf
    assert "listen 127.0.0.1:8081;" in conf
    limit = request_body_limit(load_settings(environ=cluster.env(0), config_file=False))
    assert limit > 300 * 1024 * 1024 and f"client_max_body_size {limit};" in conf


def test_every_instance_gets_the_same_secrets_and_its_own_folder_and_port(tmp_path):
    cluster = supervisor.Cluster(count=3, directory=tmp_path, database_url="postgresql://db/x", redis_url="redis://r",
                                 s3=supervisor.S3("http://s3", "b", "k", "s", "us-east-1"))
    cluster._secrets = cluster._shared_secrets()
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert cluster._shared_secrets() == cluster._secrets  # made once
    envs = [cluster.env(i) for i in range(3)]
    assert len({env["SHOEBOX_SECURITY__SECRET_KEY"] for env in envs}) == 1
    assert len({env["SHOEBOX_DATA_DIR"] for env in envs}) == 3
    assert len({env["SHOEBOX_SERVER__PORT"] for env in envs}) == 3
    assert all(env["SHOEBOX_SERVER__BASE_URL"] == cluster.lb for env in envs)
    assert "SHOEBOX_STORES__ALT__URL" not in envs[0]  # no second bucket named, no [stores.alt]
