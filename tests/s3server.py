"""A local moto S3 server, reached over real HTTP, and the fixtures that tests build on it.

Import the fixtures into a test module: ``from tests.s3server import moto_server, s3_store_factory  # noqa: F401``.
"""

import uuid

import boto3
import pytest
from moto.server import ThreadedMotoServer

from webapp.storage import BlobStore

# moto accepts any credentials; passing these explicitly keeps the real environment out of the tests.
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"


def start_moto() -> tuple[ThreadedMotoServer, str]:
    """Start a moto S3 server on a free loopback port and return it with its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def s3_client(endpoint_url: str):
    """Return a boto3 S3 client for the server at endpoint_url."""
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=REGION,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


@pytest.fixture(scope="session")
def moto_server():
    """The endpoint URL of a moto S3 server that runs for the whole session."""
    server, endpoint_url = start_moto()
    yield endpoint_url
    server.stop()


@pytest.fixture
def s3(moto_server):
    """A boto3 client for the moto server, to look behind a store's back."""
    return s3_client(moto_server)


@pytest.fixture
def s3_bucket(s3):
    """The name of a fresh bucket, removed with its contents after the test."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    yield name
    _remove_bucket(s3, name)


@pytest.fixture
def s3_store_factory(moto_server, s3_bucket):
    """A function that returns a BlobStore on the test's bucket, under the given prefix."""
    def make(prefix: str = "shoebox") -> BlobStore:
        return BlobStore(f"s3://{s3_bucket}/{prefix}", endpoint_url=moto_server,
                         key=ACCESS_KEY, secret=SECRET_KEY, region=REGION)
    return make


def _remove_bucket(client, name: str) -> None:
    for upload in client.list_multipart_uploads(Bucket=name).get("Uploads", []):
        client.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=name, Key=item["Key"])
    client.delete_bucket(Bucket=name)
