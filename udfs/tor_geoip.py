"""Offline country and AS lookup for relay addresses (DB-IP Lite databases, MaxMind format).

"Country" here is where DB-IP sees the address used, not where its block is registered (RIR
data): the two agree for only ~75% of relays. Every result carries the database's source name
and build date, which the job stores on each row: a lookup at ingest gives old consensuses
today's geography, and the row says which geography it got.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import maxminddb

UNKNOWN_COUNTRY = "??"  # Tor's own spelling of "no country"
COUNTRY_FILE = "dbip-country-lite.mmdb"
ASN_FILE = "dbip-asn-lite.mmdb"


@dataclass(frozen=True)
class GeoResult:
    """Country (ISO 3166-1 alpha-2, upper case, ``??`` if unknown), AS number (0 if unknown)."""

    country: str
    asn: int
    as_name: str


class GeoIP:
    """Country + ASN reader over the two DB-IP Lite ``.mmdb`` files in ``directory``.

    Raises:
        FileNotFoundError: naming the missing file and the command that installs it.
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        for name in (COUNTRY_FILE, ASN_FILE):
            if not (self.directory / name).is_file():
                raise FileNotFoundError(
                    f"GeoIP database {self.directory / name} is missing; install it with "
                    "`python -m jobs.tor.geoip_install install` (no license key needed)"
                )
        self._country: Any = maxminddb.open_database(str(self.directory / COUNTRY_FILE))
        self._asn: Any = maxminddb.open_database(str(self.directory / ASN_FILE))
        meta = self._country.metadata()
        self.source = "dbip-lite"
        self.build_date = dt.datetime.fromtimestamp(meta.build_epoch, tz=dt.UTC).date()

    def lookup(self, address: str | None) -> GeoResult:
        """Look up one IPv4/IPv6 address; anything unparsable or unlisted is unknown."""
        if not address:
            return GeoResult(UNKNOWN_COUNTRY, 0, "")
        try:
            ip = ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            return GeoResult(UNKNOWN_COUNTRY, 0, "")
        country = UNKNOWN_COUNTRY
        found = self._country.get(ip)
        if isinstance(found, dict):
            code = (found.get("country") or {}).get("iso_code")
            if isinstance(code, str) and len(code) == 2:
                country = code.upper()
        asn, as_name = 0, ""
        found = self._asn.get(ip)
        if isinstance(found, dict):
            number = found.get("autonomous_system_number")
            if isinstance(number, int) and 0 < number < 2**32:
                asn = number
                as_name = str(found.get("autonomous_system_organization") or "")
        return GeoResult(country, asn, as_name)

    def close(self) -> None:
        self._country.close()
        self._asn.close()
