"""One contract for every BlobStore backend: local folder, memory and S3 over HTTP (moto)."""

import hashlib
import io
import os
import socket
import time
import urllib.request
import uuid

import pytest

from tests.fixtures.s3server import ACCESS_KEY, REGION, SECRET_KEY
from webapp.storage import BlobNotFound, BlobStore, StorageUnavailable

MiB = 1 << 20


@pytest.fixture(params=["file", "memory", pytest.param("s3", marks=pytest.mark.s3)])
def store(request, tmp_path):
    """A fresh, empty store of each kind."""
    if request.param == "file":
        yield BlobStore((tmp_path / "blobs").as_uri())
    elif request.param == "memory":
        yield from memory_store()
    else:
        yield request.getfixturevalue("s3_store_factory")()


def memory_store():
    """Yield a memory store under a unique name and remove its blobs afterwards."""
    store = BlobStore(f"memory://test-{uuid.uuid4().hex}")
    yield store
    for key in store.keys():
        store.delete(key)


def read(store, key):
    with store.open(key) as stream:
        return stream.read()


def pseudo_random(size):
    """Return size bytes that do not compress, so no backend can cheat on a big blob."""
    blocks = (hashlib.sha256(str(n).encode()).digest() for n in range(size // 32 + 1))
    return b"".join(blocks)[:size]


class RecordingReader(io.BytesIO):
    """A file object that remembers how much each read() asked for."""

    def __init__(self, data):
        super().__init__(data)
        self.requests = []

    def read(self, size=-1):
        self.requests.append(size)
        return super().read(size)


class FailingReader:
    """A source that yields some bytes, runs a probe, then breaks like a dropped upload."""

    def __init__(self, data, fail_after, probe=lambda: None):
        self._data, self._fail_after, self._probe, self.sent = data, fail_after, probe, 0

    def read(self, size=-1):
        if self.sent >= self._fail_after:
            self._probe()
            raise ConnectionResetError("the client went away")
        chunk = self._data[self.sent:self.sent + min(size, self._fail_after - self.sent)]
        self.sent += len(chunk)
        return chunk


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_put_bytes_then_open_returns_the_same_bytes(store):
    assert store.put("originals/ab/abc123", b"hello") == 5
    assert read(store, "originals/ab/abc123") == b"hello"


def test_put_from_a_file_object_streams_a_multi_megabyte_blob_in_chunks(store):
    data = pseudo_random(12 * MiB + 17)  # more than one S3 multipart part
    source = RecordingReader(data)

    assert store.put("backups/big.zip", source) == len(data)

    assert read(store, "backups/big.zip") == data
    assert all(0 < size <= 8 * MiB for size in source.requests), "the source was read whole"


def test_put_from_a_local_path_copies_the_file(store, tmp_path):
    source = tmp_path / "upload.bin"
    source.write_bytes(b"from disk")

    assert store.put("originals/cd/path", source) == 9
    assert store.put("originals/cd/text", str(source)) == 9
    assert read(store, "originals/cd/path") == read(store, "originals/cd/text") == b"from disk"


def test_put_of_an_empty_blob_stores_zero_bytes(store):
    assert store.put("variants/x/empty.webp", b"") == 0
    assert store.exists("variants/x/empty.webp")
    assert store.size("variants/x/empty.webp") == 0


def test_put_overwrites_the_previous_blob(store):
    store.put("originals/ab/same", b"first version")
    store.put("originals/ab/same", b"second")

    assert read(store, "originals/ab/same") == b"second"
    assert store.size("originals/ab/same") == 6


def test_open_returns_a_seekable_stream(store):
    store.put("originals/ab/seek", b"0123456789")

    with store.open("originals/ab/seek") as stream:
        assert stream.seekable()
        stream.seek(4)
        assert stream.read(3) == b"456"
        stream.seek(-2, os.SEEK_END)
        assert stream.read() == b"89"


def test_readers_of_the_same_blob_do_not_share_a_position(store):
    store.put("originals/ab/two", b"abcdef")

    with store.open("originals/ab/two") as first, store.open("originals/ab/two") as second:
        assert first.read(3) == b"abc"
        assert second.read(3) == b"abc"


def test_size_and_exists_describe_stored_blobs_only(store):
    store.put("variants/m1/abc.webp", b"x" * 1234)

    assert store.size("variants/m1/abc.webp") == 1234
    assert store.exists("variants/m1/abc.webp")
    assert not store.exists("variants/m1/other.webp")
    assert not store.exists("variants/m1"), "a folder is not a blob"


def test_keys_lists_blobs_inside_a_folder_prefix(store):
    for key in ["originals/ab/1", "originals/cd/2", "variants/m1/a.webp", "variants/m10/b.webp", "backups/b.zip"]:
        store.put(key, b"x")

    assert list(store.keys()) == sorted(
        ["originals/ab/1", "originals/cd/2", "variants/m1/a.webp", "variants/m10/b.webp", "backups/b.zip"])
    assert list(store.keys("originals")) == ["originals/ab/1", "originals/cd/2"]
    assert list(store.keys("variants/m1/")) == ["variants/m1/a.webp"]
    assert list(store.keys("variants/m1/a.webp")) == []
    assert list(store.keys("nothing/here")) == []


def test_a_blob_is_invisible_until_its_put_completes(store):
    seen = {}

    def look():
        seen["exists"] = store.exists("originals/ab/slow")
        seen["keys"] = list(store.keys())

    source = FailingReader(b"y" * 3 * MiB, fail_after=2 * MiB, probe=look)

    with pytest.raises(ConnectionResetError):
        store.put("originals/ab/slow", source)

    assert seen == {"exists": False, "keys": []}


def test_failed_put_leaves_nothing_behind(store):
    with pytest.raises(ConnectionResetError):
        store.put("originals/ab/broken", FailingReader(b"z" * 3 * MiB, fail_after=MiB + 5))

    assert not store.exists("originals/ab/broken")
    assert list(store.keys()) == []


def test_failed_put_keeps_the_previous_version(store):
    store.put("originals/ab/keep", b"the good version")

    with pytest.raises(ConnectionResetError):
        store.put("originals/ab/keep", FailingReader(b"bad" * MiB, fail_after=2 * MiB))

    assert read(store, "originals/ab/keep") == b"the good version"
    assert list(store.keys()) == ["originals/ab/keep"]


def test_failed_put_to_a_folder_leaves_no_temp_file(tmp_path):
    store = BlobStore(tmp_path.as_uri())
    store.put("originals/ab/keep", b"old")

    with pytest.raises(ConnectionResetError):
        store.put("originals/ab/keep", FailingReader(b"new" * MiB, fail_after=MiB))

    assert sorted(os.listdir(tmp_path / "originals" / "ab")) == ["keep"]
    assert (tmp_path / "originals" / "ab" / "keep").read_bytes() == b"old"


@pytest.mark.s3
def test_failed_large_put_to_s3_leaves_no_multipart_upload(s3_store_factory, s3, s3_bucket):
    store = s3_store_factory()

    with pytest.raises(ConnectionResetError):
        store.put("backups/partial.zip", FailingReader(pseudo_random(20 * MiB), fail_after=17 * MiB))

    assert s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket=s3_bucket).get("Contents", []) == []


def test_delete_removes_the_blob_and_is_idempotent(store):
    store.put("variants/m1/a.webp", b"x")

    store.delete("variants/m1/a.webp")
    store.delete("variants/m1/a.webp")
    store.delete("never/stored")

    assert not store.exists("variants/m1/a.webp")
    assert list(store.keys()) == []


def test_deleting_the_last_blob_of_a_folder_removes_the_empty_folder(tmp_path):
    store = BlobStore(tmp_path.as_uri())
    store.put("variants/m1/a.webp", b"x")
    store.put("variants/m2/b.webp", b"x")

    store.delete("variants/m1/a.webp")

    assert sorted(os.listdir(tmp_path / "variants")) == ["m2"]
    store.put("variants/m1/a.webp", b"again")
    assert read(store, "variants/m1/a.webp") == b"again"


def test_open_and_size_of_a_missing_key_raise_blob_not_found(store):
    store.put("originals/ab/file", b"x")

    for key in ["originals/ab/missing", "originals/ab", "originals/ab/file/below"]:
        with pytest.raises(BlobNotFound):
            store.open(key)
        with pytest.raises(BlobNotFound):
            store.size(key)
    with pytest.raises(KeyError):
        store.size("originals/ab/missing")


@pytest.mark.parametrize("key", ["../x", "/abs", "a//b", "a/./b", "a/../b", ".", "x\x00y", "", "a/", "a\\b",
                                 "sp ace", "ünï", "a\n", "x" * 513])
def test_invalid_keys_are_rejected_before_touching_storage(store, key):
    for call in [lambda: store.put(key, b"x"), lambda: store.open(key), lambda: store.delete(key),
                 lambda: store.exists(key), lambda: store.size(key), lambda: store.url(key),
                 lambda: store.local_path(key)]:
        with pytest.raises(ValueError):
            call()
    assert list(store.keys()) == []


@pytest.mark.parametrize("prefix", ["../x", "/abs", "a//b", "a/./b", ".."])
def test_invalid_prefixes_are_rejected(store, prefix):
    with pytest.raises(ValueError):
        store.keys(prefix)


def test_the_longest_allowed_key_works(store):
    key = "/".join(["b" * 100] * 5) + "/" + "c" * 7
    assert len(key) == 512

    store.put(key, b"long")

    assert read(store, key) == b"long"


def test_url_presigns_a_get_on_s3_and_is_none_elsewhere(store):
    store.put("originals/ab/signed", b"signed bytes")

    url = store.url("originals/ab/signed", expires=60)

    if store.scheme != "s3":
        assert url is None
        return
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"signed bytes"


def test_local_path_is_given_for_folders_only(store):
    store.put("originals/ab/local", b"on disk")

    path = store.local_path("originals/ab/local")

    if store.scheme != "file":
        assert path is None
        return
    assert os.path.isabs(path)
    with open(path, "rb") as file:
        assert file.read() == b"on disk"


@pytest.mark.s3
def test_content_type_is_stored_on_s3(s3_store_factory, s3, s3_bucket):
    store = s3_store_factory("media")

    store.put("variants/m1/a.webp", b"RIFF", content_type="image/webp")

    assert s3.head_object(Bucket=s3_bucket, Key="media/variants/m1/a.webp")["ContentType"] == "image/webp"


@pytest.mark.s3
def test_s3_stores_with_different_prefixes_do_not_see_each_other(s3_store_factory):
    first, second = s3_store_factory("one"), s3_store_factory("one-more")

    first.put("originals/ab/x", b"1")

    assert not second.exists("originals/ab/x")
    assert list(second.keys()) == []


@pytest.mark.s3
def test_writes_by_another_app_instance_are_seen_at_once(s3_store_factory, s3, s3_bucket):
    store = s3_store_factory("media")
    assert list(store.keys()) == []
    assert not store.exists("originals/ab/new")

    s3.put_object(Bucket=s3_bucket, Key="media/originals/ab/new", Body=b"fresh")

    assert list(store.keys()) == ["originals/ab/new"]
    assert store.size("originals/ab/new") == 5
    s3.delete_object(Bucket=s3_bucket, Key="media/originals/ab/new")
    assert list(store.keys()) == []
    assert not store.exists("originals/ab/new")


def test_memory_stores_share_blobs_by_name_only():
    name = f"memory://test-{uuid.uuid4().hex}"
    mine, same, other = BlobStore(name), BlobStore(name), BlobStore(f"memory://test-{uuid.uuid4().hex}")
    try:
        mine.put("originals/ab/x", b"mine")

        assert same.size("originals/ab/x") == 4
        assert not other.exists("originals/ab/x")
        assert list(other.keys()) == []
    finally:
        mine.delete("originals/ab/x")


def test_file_store_creates_its_folder_and_decodes_the_url(tmp_path):
    folder = tmp_path / "my photos" / "files"

    store = BlobStore(folder.as_uri())
    store.put("originals/ab/x", b"x")

    assert "%20" in folder.as_uri()
    assert (folder / "originals" / "ab" / "x").read_bytes() == b"x"
    assert store.local_path("originals/ab/x") == str(folder / "originals" / "ab" / "x")


def test_check_passes_on_a_healthy_store(store):
    store.check()


def test_check_fails_when_the_folder_is_gone(tmp_path):
    store = BlobStore((tmp_path / "files").as_uri())
    os.rmdir(tmp_path / "files")

    with pytest.raises(StorageUnavailable, match="missing or not writable"):
        store.check()


@pytest.mark.s3
def test_check_fails_when_the_bucket_does_not_exist(moto_server):
    store = BlobStore("s3://no-such-bucket/x", endpoint_url=moto_server, key=ACCESS_KEY, secret=SECRET_KEY,
                      region=REGION)

    with pytest.raises(StorageUnavailable, match="no-such-bucket"):
        store.check()
    with pytest.raises(StorageUnavailable):
        store.put("originals/ab/x", b"x")


@pytest.mark.s3
@pytest.mark.parametrize("call", [
    lambda store: store.put("originals/ab/x", b"x"),
    lambda store: store.put("backups/big.zip", io.BytesIO(b"x" * 9 * MiB)),
    lambda store: store.open("originals/ab/x"),
    lambda store: store.check(),
], ids=["put", "put-multipart", "open", "check"])
def test_a_dead_s3_endpoint_raises_storage_unavailable_within_seconds(call):
    store = BlobStore("s3://bucket/prefix", endpoint_url=f"http://127.0.0.1:{closed_port()}",
                      key=ACCESS_KEY, secret=SECRET_KEY, region=REGION)
    started = time.monotonic()

    with pytest.raises(StorageUnavailable, match="Could not connect"):
        call(store)

    assert time.monotonic() - started < 10


def test_from_settings_reads_the_storage_table(tmp_path):
    settings = {"url": tmp_path.as_uri(), "endpoint_url": "", "key": "", "secret": "", "region": "",
                "redirect_to_presigned": False}

    store = BlobStore.from_settings(settings)

    assert store.scheme == "file"
    assert store.local_path("a") == str(tmp_path / "a")


@pytest.mark.parametrize("url", ["ftp://host/x", "s3:///prefix", "file://relative/x", "/data/files", ""])
def test_unusable_urls_are_rejected(url):
    with pytest.raises(ValueError):
        BlobStore(url)


def test_repr_names_the_store_without_secrets():
    store = BlobStore("s3://bucket/p", endpoint_url="http://127.0.0.1:9", key="AKIDKEY", secret="very-secret")

    assert "very-secret" not in repr(store) and "AKIDKEY" not in repr(store)
    assert "s3://bucket/p" in repr(store)


def test_a_writer_shows_its_blob_only_when_its_block_ends_without_an_error(store):
    with store.writer("backups/a.zip") as sink:
        sink.write(b"first ")
        sink.write(b"second")
        assert not store.exists("backups/a.zip")
    assert read(store, "backups/a.zip") == b"first second"
    with pytest.raises(RuntimeError), store.writer("backups/b.zip") as sink:
        sink.write(b"half")
        raise RuntimeError("stopped")
    assert not store.exists("backups/b.zip")


def test_move_gives_a_blob_a_new_key(store):
    store.put("pending/x.zip", b"archive")
    store.move("pending/x.zip", "done/x.zip")
    assert read(store, "done/x.zip") == b"archive" and not store.exists("pending/x.zip")


def test_what_a_killed_writer_left_on_disk_is_discarded_and_nothing_else(tmp_path):
    from webapp.storage import BlobStore

    store = BlobStore((tmp_path / "b").as_uri())
    store.put("pending/x.zip", b"kept")
    writer = store._writer(store._path("pending/x.zip"), None)  # as a process killed mid-write leaves it
    writer.write(b"half")
    writer._file.close()  # the process is gone; its temp file stays
    other = store._writer(store._path("pending/y.zip"), None)
    other.write(b"someone else's")
    assert store.discard_unfinished("pending/x.zip") == 1
    left = sorted(path.name for path in (tmp_path / "b" / "pending").iterdir())
    assert left == [next(name for name in left if name.startswith(".y.zip.")), "x.zip"]
    other.abort()


def test_md5_is_the_stores_own_for_a_single_part_s3_blob_and_none_elsewhere(store):
    store.put("originals/ab/small", b"a photo's bytes")
    if store.scheme == "s3":
        assert store.md5("originals/ab/small") == hashlib.md5(b"a photo's bytes").hexdigest()
    else:
        assert store.md5("originals/ab/small") is None  # nothing cheaper than reading it back


@pytest.mark.s3
def test_md5_of_a_multipart_s3_blob_is_none(s3_store_factory):
    store = s3_store_factory()
    store.put("videos/ab/large", io.BytesIO(pseudo_random(12 * MiB)))  # more than one part

    assert store.md5("videos/ab/large") is None  # its ETag is "<md5 of the parts' md5s>-N", not its MD5
