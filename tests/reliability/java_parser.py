"""The Java parser called directly in PyFlink's gateway JVM (one JVM for a whole test session).

``ParseGatewayEvent.parse`` and ``EnvelopeTime.read`` are the pure static functions behind the
SQL functions (jobs/ops/java_udfs.py); the built jar is loaded into the gateway JVM by a class loader
of its own, so a property test can call them once per generated line, and Hypothesis can shrink
a failing line, without a Flink job per example. The Flink path itself (SQL, sources, sinks) is
covered by the bad-input runs of test_bad_input.py.
"""

from __future__ import annotations

import json
from typing import Any

from reference import COLUMNS

from jobs.ops import java_udfs


class JavaParser:
    """parse(line, max_bytes) -> every output column, as the SQL function returns them."""

    def __init__(self) -> None:
        from pyflink.java_gateway import get_gateway

        gateway = get_gateway()
        jvm = gateway.jvm
        urls = gateway.new_array(jvm.java.net.URL, 1)
        urls[0] = jvm.java.io.File(str(java_udfs.ensure_jar())).toURI().toURL()
        loader = jvm.java.net.URLClassLoader(urls, jvm.java.lang.Thread.currentThread().getContextClassLoader())
        string_class = jvm.java.lang.Class.forName("java.lang.String")
        parse_types = gateway.new_array(jvm.java.lang.Class, 2)
        parse_types[0] = string_class
        parse_types[1] = jvm.java.lang.Integer.TYPE
        parser = jvm.java.lang.Class.forName("netpulse.udfs.ParseGatewayEvent", True, loader)
        self._parse = parser.getDeclaredMethod("parse", parse_types)
        self._parse.setAccessible(True)
        time_types = gateway.new_array(jvm.java.lang.Class, 1)
        time_types[0] = string_class
        envelope = jvm.java.lang.Class.forName("netpulse.udfs.EnvelopeTime", True, loader)
        self._time = envelope.getDeclaredMethod("read", time_types)
        self._time.setAccessible(True)
        # The row's fields as one JSON text: one gateway round trip instead of one per column.
        self._fields = jvm.java.lang.Class.forName("org.apache.flink.types.Row").getDeclaredField("fieldByPosition")
        self._fields.setAccessible(True)
        self._json = jvm.org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper()
        self._args = gateway.new_array(jvm.java.lang.Object, 2)
        self._one = gateway.new_array(jvm.java.lang.Object, 1)

    def parse(self, line: str, max_bytes: int) -> dict[str, Any]:
        self._args[0] = line
        self._args[1] = max_bytes
        row = self._parse.invoke(None, self._args)
        values = json.loads(self._json.writeValueAsString(self._fields.get(row)))
        return dict(zip(COLUMNS, values, strict=True))

    def envelope_ms(self, line: str) -> int | None:
        self._one[0] = line
        return self._time.invoke(None, self._one)
