"""A throwaway S3 server for tests: moto's server on loopback, in a child process.

A child process rather than moto's ThreadedMotoServer in the test process: moto keeps every
object in memory, which would pollute memory measurements of the code under test, and on two
cores a separate process does not compete with the tests for the GIL.

    url, stop = start_moto_s3()          # s3://testing:testing@127.0.0.1:PORT/BUCKET?secure=false&region=us-east-1
    ...
    stop()

or, for several buckets on one server:

    server = MotoS3Server.start()
    url = server.create_bucket("docs", object_lock=True)
    server.stop()

When DMS_TEST_S3_ENDPOINT is set (s3://KEY:SECRET@host:port/bucket?secure=false), start_s3_test_server()
returns that real server instead, with the same interface.
"""
from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from urllib.parse import parse_qs, unquote, urlsplit

from minio import Minio
from minio.error import S3Error

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"
STARTUP_TIMEOUT_SECONDS = 30.0


class MotoS3Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port
        self.endpoint = f"127.0.0.1:{port}"

    @classmethod
    def start(cls) -> MotoS3Server:
        port = _free_loopback_port()
        environment = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=environment,
        )
        server = cls(process, port)
        atexit.register(server.stop)  # no orphaned server if the caller forgets or crashes
        try:
            server._wait_until_ready()
        except BaseException:
            server.stop()
            raise
        return server

    def client(self) -> Minio:
        """A raw MinIO client on this server (for tests that go behind a store's back)."""
        return Minio(self.endpoint, ACCESS_KEY, SECRET_KEY, secure=False, region=REGION)

    def url(self, bucket: str) -> str:
        return f"s3://{ACCESS_KEY}:{SECRET_KEY}@{self.endpoint}/{bucket}?secure=false&region={REGION}"

    def create_bucket(self, bucket: str | None = None, object_lock: bool = False) -> str:
        """Creates a bucket (a fresh random name by default) and returns the store URL for it."""
        name = bucket or f"test-{uuid.uuid4().hex[:16]}"
        self.client().make_bucket(name, location=REGION, object_lock=object_lock)
        return self.url(name)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited with code {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"moto server did not listen on port {self.port} within {STARTUP_TIMEOUT_SECONDS} s")


def start_moto_s3(bucket: str = "pechat-test", object_lock: bool = False) -> tuple[str, Callable[[], None]]:
    """Starts moto's S3 server on loopback with one bucket; returns (store URL, stop)."""
    server = MotoS3Server.start()
    try:
        url = server.create_bucket(bucket, object_lock=object_lock)
    except BaseException:
        server.stop()
        raise
    return url, server.stop


class ExternalS3Server:
    """A real S3 server named by a store URL (DMS_TEST_S3_ENDPOINT); stop() leaves it running."""


    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        options = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        self.endpoint = parts.netloc.rpartition("@")[2]
        self.bucket = parts.path.strip("/")
        self._access_key = unquote(parts.username or "")
        self._secret_key = unquote(parts.password or "")
        self._secure = options.get("secure", "true").lower() in ("true", "1", "yes")
        self._region = options.get("region") or None
        self._query = parts.query
        self._created: list[str] = []

    def client(self) -> Minio:
        return Minio(
            self.endpoint, self._access_key, self._secret_key, secure=self._secure, region=self._region
        )

    def url(self, bucket: str) -> str:
        credentials = f"{self._access_key}:{self._secret_key}@" if self._access_key else ""
        query = f"?{self._query}" if self._query else ""
        return f"s3://{credentials}{self.endpoint}/{bucket}{query}"

    def create_bucket(self, bucket: str | None = None, object_lock: bool = False) -> str:
        """Creates a bucket (by default a fresh one named after the configured bucket) and
        returns its store URL; stop() empties and removes the buckets made here where it can."""
        name = bucket or f"{self.bucket}-{uuid.uuid4().hex[:12]}"
        client = self.client()
        if not client.bucket_exists(name):
            client.make_bucket(name, location=self._region, object_lock=object_lock)
            self._created.append(name)
        return self.url(name)

    def stop(self) -> None:
        client = self.client()
        for bucket in self._created:
            try:
                for found in client.list_objects(bucket, recursive=True):
                    client.remove_object(bucket, found.object_name)
                client.remove_bucket(bucket)
            except S3Error:
                continue  # objects under retention keep their bucket
        self._created.clear()


def start_s3_test_server() -> MotoS3Server | ExternalS3Server:
    """The server named by DMS_TEST_S3_ENDPOINT if set, else a fresh moto server."""
    external = os.environ.get("DMS_TEST_S3_ENDPOINT")
    if external:
        return ExternalS3Server(external)
    return MotoS3Server.start()


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
