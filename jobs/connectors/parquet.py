"""Parquet files for the lake: the raw event archive and calculated_metrics, local or S3.

Layout (seeds/000, "Schema for MinIO/S3"):
    raw_events/event_date=YYYY-MM-DD/event_type=<type>/part-<batch>.parquet
    calculated_metrics/metric_date=YYYY-MM-DD/metric_category=<category>/part-<batch>.parquet

Each schema mirrors its ClickHouse table (column names and types, plus the MATERIALIZED date
column), so a directory of files loads straight back: ``INSERT INTO naap.raw_events SELECT *
EXCEPT (event_date) FROM file('.../raw_events/**/*.parquet')`` (or ``s3(...)``). A file name
is a function of the table, the partition and the event-time batch, so a batch re-written after
a restart replaces the same file with the same rows (exactly-once files). Local files are
written to a hidden temporary name and renamed; S3 puts are atomic.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq

from jobs.settings import Settings

_TS = pa.timestamp("ms", tz="UTC")

CALCULATED_METRICS_SCHEMA = pa.schema(
    [
        ("metric_timestamp", _TS),
        ("window_start", _TS),
        ("window_end", _TS),
        ("stream_id", pa.string()),
        ("request_id", pa.string()),
        ("gateway", pa.string()),
        ("orchestrator_address", pa.string()),
        ("orchestrator_url", pa.string()),
        ("gpu_id", pa.string()),
        ("region", pa.string()),
        ("pipeline", pa.string()),
        ("model_id", pa.string()),
        ("metric_name", pa.string()),
        ("metric_category", pa.string()),
        ("metric_version", pa.uint16()),
        ("metric_value", pa.float64()),
        ("metric_unit", pa.string()),
        ("metric_metadata", pa.string()),
    ]
)

RAW_EVENTS_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("dedup_key", pa.string()),
        ("event_timestamp", _TS),
        ("event_type", pa.string()),
        ("stream_id", pa.string()),
        ("request_id", pa.string()),
        ("gateway", pa.string()),
        ("orchestrator_address", pa.string()),
        ("orchestrator_url", pa.string()),
        ("raw_data", pa.string()),
        ("source_position", pa.string()),
    ]
)

LAYOUTS: dict[str, tuple[str, pa.Schema, str, str]] = {
    # table: (prefix, schema, date partition from, second partition column)
    "naap.raw_events": ("raw_events", RAW_EVENTS_SCHEMA, "event_timestamp", "event_type"),
    "naap.calculated_metrics": (
        "calculated_metrics", CALCULATED_METRICS_SCHEMA, "metric_timestamp", "metric_category"
    ),
}
DATE_COLUMN = {"naap.raw_events": "event_date", "naap.calculated_metrics": "metric_date"}


def parse_rows(lines: list[str], schema: pa.Schema, text: bytes | None = None) -> pa.Table:
    """JSONEachRow lines -> an Arrow table of ``schema`` (timestamps as 'YYYY-MM-DD hh:mm:ss.fff').

    ``text``, when the caller already holds it, is ``lines`` joined by newlines and encoded
    (one line per row, newline-terminated): it saves joining the batch a second time.
    """
    if text is None:
        text = encode_lines(lines)
    read = pajson.read_json(
        io.BytesIO(text),
        parse_options=pajson.ParseOptions(explicit_schema=_text_timestamps(schema), unexpected_field_behavior="ignore"),
    )
    columns = []
    for field in schema:
        column = read.column(field.name)
        if pa.types.is_timestamp(field.type):
            column = pc.assume_timezone(column.cast(pa.timestamp("ms")), "UTC")
        columns.append(column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def encode_lines(lines: list[str]) -> bytes:
    """``lines`` as JSONEachRow bytes: newline-joined and newline-terminated."""
    return ("\n".join(lines) + "\n").encode()


def _text_timestamps(schema: pa.Schema) -> pa.Schema:
    return pa.schema(
        [pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f for f in schema]
    )


class ParquetSink:
    """Writes batches of one table as partitioned Parquet files to a directory or S3."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._fs: Any = None

    def _filesystem(self) -> tuple[Any, str]:
        url = self.settings.parquet_url
        if url.startswith("s3://"):
            if self._fs is None:
                from pyarrow import fs

                endpoint = self.settings.s3_endpoint
                self._fs = fs.S3FileSystem(
                    endpoint_override=endpoint.split("://", 1)[-1],
                    scheme="https" if endpoint.startswith("https") else "http",
                    access_key=self.settings.s3_access_key,
                    secret_key=self.settings.s3_secret_key,
                    region=self.settings.s3_region,
                )
            return self._fs, url.removeprefix("s3://").rstrip("/")
        return None, url.rstrip("/")

    def _suffix(self, target: str) -> str:
        """A replay in replace mode (NETPULSE token salt set) writes calculated_metrics under its own names.

        Its rows must not overwrite a live file that also holds metrics the replay does not
        rewrite (``delete_metrics`` took the rewritten ones out beforehand).
        The raw archive keeps its names (a replay rewrites the same events).
        """
        salt = self.settings.token_salt
        if target != "naap.calculated_metrics" or not salt:
            return ""
        return "-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in salt).strip("-")

    def delete_metrics(self, days: list[Any], names: set[str]) -> int:
        """Remove the rows of metrics ``names`` from the calculated_metrics files of ``days``.

        A replay in replace mode does so before it writes them again; returns the files changed.
        A file left empty is deleted; the others are rewritten (local: temporary name, rename).
        """
        from pyarrow import fs as pafs

        filesystem, root = self._filesystem()
        filesystem = filesystem or pafs.LocalFileSystem()
        changed = 0
        for day in days:
            selector = pafs.FileSelector(
                f"{root}/calculated_metrics/metric_date={day.isoformat()}", recursive=True, allow_not_found=True
            )
            for info in filesystem.get_file_info(selector):
                if (
                    info.type != pafs.FileType.File
                    or not info.base_name.endswith(".parquet")
                    or info.base_name.startswith(".")
                ):
                    continue
                table = pq.read_table(info.path, filesystem=filesystem, partitioning=None)
                keep = pc.invert(pc.is_in(table.column("metric_name"), value_set=pa.array(sorted(names))))
                kept = table.filter(keep)
                if kept.num_rows == table.num_rows:
                    continue
                changed += 1
                if kept.num_rows == 0:
                    filesystem.delete_file(info.path)
                elif isinstance(filesystem, pafs.LocalFileSystem):
                    tmp = str(Path(info.path).with_name(f".{info.base_name}.tmp"))
                    pq.write_table(kept, tmp)
                    os.replace(tmp, info.path)
                else:
                    pq.write_table(kept, info.path, filesystem=filesystem)
        return changed

    def parse(self, target: str, lines: list[str], text: bytes | None = None) -> pa.Table:
        """A batch of ``target`` rows (JSONEachRow) as an Arrow table of its Parquet schema."""
        return parse_rows(lines, LAYOUTS[target][1], text)

    def write(self, target: str, batch_id: str, table: pa.Table) -> list[str]:
        """Write one parsed batch; returns the paths written (one per partition).

        One sort of the batch by (date, partition value, time, first column) makes every
        partition a contiguous slice, written in that order.
        """
        prefix, _, time_column, second = LAYOUTS[target]
        date_column = DATE_COLUMN[target]
        table = table.append_column(date_column, pc.cast(table.column(time_column), pa.date32()))
        order = [date_column, second, time_column, table.column_names[0]]
        table = table.take(pc.sort_indices(table, sort_keys=[(name, "ascending") for name in order]))
        groups = table.select([date_column, second]).group_by([date_column, second], use_threads=False)
        counts = groups.aggregate([([], "count_all")])
        fs, root = self._filesystem()
        written = []
        offset = 0
        for day, value, count in zip(
            counts.column(date_column).to_pylist(),
            counts.column(second).to_pylist(),
            counts.column("count_all").to_pylist(),
            strict=True,
        ):
            part = table.slice(offset, count)
            offset += count
            rel = (
                f"{prefix}/{date_column}={day.isoformat()}/{second}={value}"
                f"/part-{batch_id}{self._suffix(target)}.parquet"
            )
            path = f"{root}/{rel}"
            if fs is None:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                tmp = str(Path(path).with_name(f".{Path(path).name}.tmp"))
                pq.write_table(part, tmp)
                os.replace(tmp, path)
            else:
                pq.write_table(part, path, filesystem=fs)
            written.append(path)
        return written
