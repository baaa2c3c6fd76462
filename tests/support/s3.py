"""A real S3-compatible server for the tests: moto in server mode, in its own process on a free port.

Its own process (not a thread) so fault tests can SIGKILL it mid-upload, as a crashed endpoint would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
import urllib3

from pgdrill.pg.cluster import free_port

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIAPGDRILLTEST00001",
    "AWS_SECRET_ACCESS_KEY": "pgdrill-test-secret-key-0123456789abcdef",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class S3Server:
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def client(self):  # type: ignore[no-untyped-def]
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def create_bucket(self, name: str | None = None, object_lock: bool = False) -> str:
        name = name or f"b-{uuid.uuid4().hex[:12]}"
        kwargs = {"ObjectLockEnabledForBucket": True} if object_lock else {}
        self.client().create_bucket(Bucket=name, **kwargs)
        return name

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def start_s3_server(port: int | None = None) -> S3Server:
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    http = urllib3.PoolManager()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("moto server exited at start")
        try:
            http.request("GET", f"http://127.0.0.1:{port}/moto-api/", timeout=1.0, retries=False)
            return S3Server(port, proc)
        except urllib3.exceptions.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("moto server did not start in 30 s")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = start_s3_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """Point boto3 (in this process and in subprocesses) at the session's S3 server."""
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return s3_server


@pytest.fixture
def s3_store_url(s3_env: S3Server) -> str:
    return f"s3://{s3_env.create_bucket()}/backups/prod"


@pytest.fixture(params=["local", "s3"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """A fresh store URL of each kind."""
    if request.param == "local":
        return str(tmp_path / "store")
    return str(request.getfixturevalue("s3_store_url"))


_ = os
