package netpulse.udfs;

import java.util.Locale;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonProcessingException;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.DeserializationFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.JsonNodeFactory;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.types.Row;

/**
 * One gateway event line into every field the NaaP jobs use, parsing the document once.
 *
 * <p>Emits exactly one row per line. The fields follow the semantics of Flink's
 * {@code JSON_VALUE} (lax: a scalar as text, NULL for a missing key, a JSON null or a
 * container) and {@code TRY_CAST} (numbers or numeric strings), which the jobs used before:
 * one {@code JSON_VALUE} call parses the whole document, and the jobs made ~100 of them per
 * event. Strings default to '' where the tables do. Type-specific fields are filled only for
 * their event type (NULL otherwise), so the rows kept in the deduplication window stay small.
 *
 * <p>Rejects are reported, never thrown: {@code envelope_reason} (payload_too_large,
 * invalid_utf8, malformed_json, duplicate_key, not_an_object, missing_type), {@code data_reason} (missing_data,
 * invalid_data), {@code parse_reason} (the typed fields of one event type). The event time
 * checks and the late check stay in SQL (they need the clock and the watermark).
 */
@FunctionHint(output = @DataTypeHint(ParseGatewayEvent.OUTPUT))
public class ParseGatewayEvent extends TableFunction<Row> {

    static final String OUTPUT = "ROW<"
            + "envelope_reason STRING, data_reason STRING, "
            + "event_id STRING, event_type STRING, gateway STRING, data STRING, "
            + "stream_id STRING, request_id STRING, any_request_id STRING, "
            + "orchestrator_address STRING, orchestrator_url STRING, pipeline STRING, pipeline_id STRING, "
            + "parse_reason STRING, "
            // ai_stream_status
            + "state STRING, output_fps DOUBLE, input_fps DOUBLE, restart_count BIGINT, "
            + "last_error STRING, last_error_time BIGINT, prompt_text STRING, prompt_width INT, "
            + "prompt_height INT, params_hash STRING, start_time BIGINT, "
            // stream_ingest_metrics
            + "connection_quality STRING, video_jitter DOUBLE, video_packets_received BIGINT, "
            + "video_packets_lost BIGINT, video_packet_loss_pct DOUBLE, video_last_input_ts DOUBLE, "
            + "audio_jitter DOUBLE, audio_packets_received BIGINT, audio_packets_lost BIGINT, "
            + "audio_packet_loss_pct DOUBLE, audio_last_input_ts DOUBLE, bytes_received BIGINT, "
            + "bytes_sent BIGINT, transport_id STRING, "
            // stream_trace
            + "trace_type STRING, payload_ms BIGINT, message STRING"
            + ">";

    private static final int ENVELOPE_REASON = 0, DATA_REASON = 1, EVENT_ID = 2, EVENT_TYPE = 3,
            GATEWAY = 4, DATA = 5, STREAM_ID = 6, REQUEST_ID = 7, ANY_REQUEST_ID = 8,
            ORCHESTRATOR_ADDRESS = 9, ORCHESTRATOR_URL = 10, PIPELINE = 11, PIPELINE_ID = 12,
            PARSE_REASON = 13, STATE = 14, OUTPUT_FPS = 15, INPUT_FPS = 16, RESTART_COUNT = 17,
            LAST_ERROR = 18, LAST_ERROR_TIME = 19, PROMPT_TEXT = 20, PROMPT_WIDTH = 21,
            PROMPT_HEIGHT = 22, PARAMS_HASH = 23, START_TIME = 24, CONNECTION_QUALITY = 25,
            VIDEO = 26, AUDIO = 31, BYTES_RECEIVED = 36, BYTES_SENT = 37, TRANSPORT_ID = 38,
            TRACE_TYPE = 39, PAYLOAD_MS = 40, MESSAGE = 41, WIDTH = 42;
    // Per track: jitter, packets_received, packets_lost, packet_loss_pct, last_input_ts.
    // The ranges of the ClickHouse columns the values are written to (UInt16, UInt32; DateTime64
    // spans 1900-01-01 .. 2299-12-31): a value outside would fail the whole insert of its batch,
    // and a replay would fail the same way, so it is read as no value, like one of the wrong type.
    static final long UINT32_MAX = 4_294_967_295L, MIN_TIME_MS = -2_208_988_800_000L,
            MAX_TIME_MS = 10_413_791_999_999L;
    static final int UINT16_MAX = 65_535;
    private static final int JITTER = 0, PACKETS_RECEIVED = 1, PACKETS_LOST = 2, LOSS_PCT = 3,
            LAST_INPUT_TS = 4;

    // Floats stay exact BigDecimals (no stripped zeros) so their text is the one JSON_VALUE
    // gives: 1771804800000.0 stays that, not 1.7718048E+12, and casts to BIGINT like it.
    // A key given twice in one object makes the document ambiguous (Jackson keeps the last
    // value, the envelope-time scan of EnvelopeTime stops at the first `timestamp`), so it is
    // rejected: duplicate_key. Jackson's default limits hold too (nesting depth 1000, numbers
    // of 1000 characters, keys of 50000): beyond them a line is malformed_json.
    private static final ObjectMapper MAPPER = mapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
    // Only to tell a malformed document that also repeats a key (malformed_json) from a
    // well-formed one that does (duplicate_key), whichever comes first in the text.
    private static final ObjectMapper LENIENT = mapper();

    static final String MALFORMED_JSON = "malformed_json", DUPLICATE_KEY = "duplicate_key";

    private static ObjectMapper mapper() {
        return new ObjectMapper()
                .setNodeFactory(JsonNodeFactory.withExactBigDecimals(true))
                .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    }

    public void eval(String line, Integer maxBytes) {
        collect(parse(line, maxBytes == null ? Integer.MAX_VALUE : maxBytes));
    }

    /**
     * Bytes of {@code s} in UTF-8, counting up to just past {@code limit}. A surrogate pair is
     * 4 bytes, a lone surrogate 3 (as Python's "surrogatepass" encodes it).
     */
    static long utf8Length(String s, long limit) {
        long n = 0;
        for (int i = 0; i < s.length() && n <= limit; i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                n += 1;
            } else if (c < 0x800) {
                n += 2;
            } else if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                n += 4;
                i++;
            } else {
                n += 3;
            }
        }
        return n;
    }

    /** The row for one line (see the class comment); pure, for tests and for eval. */
    static Row parse(String line, int maxBytes) {
        Row row = new Row(WIDTH);
        row.setField(EVENT_ID, "");
        row.setField(EVENT_TYPE, "");
        row.setField(GATEWAY, "");
        if (line == null) {
            row.setField(ENVELOPE_REASON, MALFORMED_JSON);
            return row;
        }
        // The limit is in bytes of UTF-8 (the line as the source decoded it); a UTF-16 char is
        // at most 3 of them, so short lines are not counted.
        if ((long) line.length() * 3 > maxBytes && utf8Length(line, maxBytes) > maxBytes) {
            row.setField(ENVELOPE_REASON, "payload_too_large");
            return row;
        }
        // The sources decode bytes as UTF-8 and replace what is not UTF-8 with U+FFFD: such a
        // record would otherwise pass with its text silently altered (e.g. Latin-1 in a string).
        if (line.indexOf('\uFFFD') >= 0) {
            row.setField(ENVELOPE_REASON, "invalid_utf8");
            return row;
        }
        Object read = read(line);
        if (read instanceof String) {
            row.setField(ENVELOPE_REASON, read);
            return row;
        }
        JsonNode root = (JsonNode) read;
        if (!root.isObject()) {
            row.setField(ENVELOPE_REASON, "not_an_object");
            return row;
        }
        String type = text(root.get("type"));
        row.setField(EVENT_ID, text(root.get("id")));
        row.setField(EVENT_TYPE, type);
        row.setField(GATEWAY, text(root.get("gateway")));
        if (type.isEmpty()) {
            row.setField(ENVELOPE_REASON, "missing_type");
            return row;
        }
        JsonNode data = data(root.get("data"), row);
        if (data == null) {
            return row;
        }
        fillCommon(data, row);
        switch (type) {
            case "ai_stream_status":
                fillStatus(data, row);
                break;
            case "stream_ingest_metrics":
                fillIngest(data, row);
                break;
            case "stream_trace":
                fillTrace(data, row);
                break;
            case "network_capabilities":
                row.setField(DATA, data.toString());
                break;
            default:
                break;
        }
        return row;
    }

    /** {@code data} as a node: an object (or any JSON value), or a JSON document sent as a string. */
    private static JsonNode data(JsonNode node, Row row) {
        if (node == null || node.isNull()) {
            row.setField(DATA_REASON, "missing_data");
            return null;
        }
        if (!node.isTextual()) {
            return node;
        }
        JsonNode parsed = readTree(node.textValue());
        if (parsed == null) {
            row.setField(DATA_REASON, "invalid_data");
        }
        return parsed;
    }

    private static void fillCommon(JsonNode data, Row row) {
        JsonNode orchestrator = data.path("orchestrator_info");
        String requestId = text(data.get("request_id"));
        row.setField(STREAM_ID, text(data.get("stream_id")));
        row.setField(REQUEST_ID, requestId);
        row.setField(ANY_REQUEST_ID, requestId.isEmpty() && scalar(data.get("request_id")) == null
                ? text(data.get("requestID")) : requestId);
        row.setField(ORCHESTRATOR_ADDRESS, text(orchestrator.get("address")).toLowerCase(Locale.ROOT));
        row.setField(ORCHESTRATOR_URL, text(orchestrator.get("url")));
        row.setField(PIPELINE, text(data.get("pipeline")));
        row.setField(PIPELINE_ID, text(data.get("pipeline_id")));
    }

    private static void fillStatus(JsonNode data, Row row) {
        JsonNode inference = data.path("inference_status");
        JsonNode params = inference.path("last_params");
        JsonNode outputFps = inference.get("fps");
        JsonNode inputFps = data.path("input_status").get("fps");
        row.setField(STATE, text(data.get("state")));
        row.setField(OUTPUT_FPS, toDouble(scalar(outputFps)));
        row.setField(INPUT_FPS, toDouble(scalar(inputFps)));
        row.setField(RESTART_COUNT, within(toLong(scalar(inference.get("restart_count"))), 0, UINT32_MAX));
        row.setField(LAST_ERROR, scalarOrJson(inference.get("last_error")));
        row.setField(LAST_ERROR_TIME, within(toLong(scalar(inference.get("last_error_time"))), MIN_TIME_MS, MAX_TIME_MS));
        row.setField(PROMPT_TEXT, scalarOrJson(params.get("prompt")));
        row.setField(PROMPT_WIDTH, within(toInt(scalar(params.get("width"))), 0, UINT16_MAX));
        row.setField(PROMPT_HEIGHT, within(toInt(scalar(params.get("height"))), 0, UINT16_MAX));
        row.setField(PARAMS_HASH, text(inference.get("last_params_hash")));
        row.setField(START_TIME, within(toLong(scalar(data.get("start_time"))), MIN_TIME_MS, MAX_TIME_MS));
        if (badDouble(outputFps)) {
            row.setField(PARSE_REASON, "invalid_output_fps");
        } else if (badDouble(inputFps)) {
            row.setField(PARSE_REASON, "invalid_input_fps");
        } else if (((String) row.getField(STREAM_ID)).isEmpty() && ((String) row.getField(REQUEST_ID)).isEmpty()) {
            row.setField(PARSE_REASON, "missing_stream_id");
        }
    }

    private static void fillIngest(JsonNode data, Row row) {
        JsonNode stats = data.get("stats");
        if (stats == null || !stats.isContainerNode()) {
            row.setField(PARSE_REASON, "missing_stats");
            stats = data.path("stats");
        }
        JsonNode peer = stats.path("peer_conn_stats");
        row.setField(CONNECTION_QUALITY, text(stats.get("conn_quality")));
        row.setField(BYTES_RECEIVED, within(toLong(scalar(peer.get("BytesReceived"))), 0, Long.MAX_VALUE));
        row.setField(BYTES_SENT, within(toLong(scalar(peer.get("BytesSent"))), 0, Long.MAX_VALUE));
        row.setField(TRANSPORT_ID, text(peer.get("ID")));
        boolean bad = fillTrack(track(stats, "video"), VIDEO, row) | fillTrack(track(stats, "audio"), AUDIO, row);
        if (bad && row.getField(PARSE_REASON) == null) {
            row.setField(PARSE_REASON, "invalid_track_stats");
        }
    }

    /** The first or second entry of stats.track_stats whose type is {@code kind}. */
    private static JsonNode track(JsonNode stats, String kind) {
        JsonNode tracks = stats.path("track_stats");
        for (int i = 0; i < 2; i++) {
            if (kind.equals(scalar(tracks.path(i).get("type")))) {
                return tracks.path(i);
            }
        }
        return null;
    }

    /** Fills one track's five fields; true when jitter or packets_lost is not a number. */
    private static boolean fillTrack(JsonNode track, int base, Row row) {
        if (track == null) {
            return false;
        }
        row.setField(base + JITTER, toDouble(scalar(track.get("jitter"))));
        row.setField(base + PACKETS_RECEIVED, within(toLong(scalar(track.get("packets_received"))), 0, UINT32_MAX));
        row.setField(base + PACKETS_LOST, within(toLong(scalar(track.get("packets_lost"))), 0, UINT32_MAX));
        row.setField(base + LOSS_PCT, toDouble(scalar(track.get("packet_loss_pct"))));
        row.setField(base + LAST_INPUT_TS, toDouble(scalar(track.get("last_input_ts"))));
        return badDouble(track.get("jitter")) || badDouble(track.get("packets_lost"));
    }

    private static void fillTrace(JsonNode data, Row row) {
        JsonNode timestamp = data.get("timestamp");
        String traceType = text(data.get("type"));
        row.setField(TRACE_TYPE, traceType);
        row.setField(PAYLOAD_MS, within(toLong(scalar(timestamp)), MIN_TIME_MS, MAX_TIME_MS));
        row.setField(MESSAGE, text(data.get("message")));
        if (traceType.isEmpty()) {
            row.setField(PARSE_REASON, "missing_trace_type");
        } else if (scalar(timestamp) != null && row.getField(PAYLOAD_MS) == null) {
            row.setField(PARSE_REASON, "invalid_data_timestamp");
        }
    }

    // ---- JSON and number helpers (JSON_VALUE / TRY_CAST semantics) ---------------------------

    /** The document, or null when the text is not exactly one JSON value with distinct keys. */
    static JsonNode readTree(String text) {
        Object read = read(text);
        return read instanceof JsonNode ? (JsonNode) read : null;
    }

    /** The document (a JsonNode), or why the text is not one: malformed_json or duplicate_key. */
    static Object read(String text) {
        try {
            JsonNode node = MAPPER.readTree(text);
            return node == null || node.isMissingNode() ? MALFORMED_JSON : node;
        } catch (JsonProcessingException e) {
            String message = e.getOriginalMessage();
            if (message == null || !message.startsWith("Duplicate field")) {
                return MALFORMED_JSON;
            }
            // Rare: parse again without the check; malformed elsewhere beats the repeated key.
            try {
                JsonNode node = LENIENT.readTree(text);
                return node == null || node.isMissingNode() ? MALFORMED_JSON : DUPLICATE_KEY;
            } catch (Exception again) {
                return MALFORMED_JSON;
            }
        } catch (Exception e) {
            return MALFORMED_JSON;
        }
    }

    /** JSON_VALUE: a scalar (string, number, boolean) as text; null for null/missing/containers. */
    static String scalar(JsonNode node) {
        if (node == null || !node.isValueNode() || node.isNull()) {
            return null;
        }
        return node.asText();
    }

    /** COALESCE(JSON_VALUE(...), ''). */
    static String text(JsonNode node) {
        String value = scalar(node);
        return value == null ? "" : value;
    }

    /** COALESCE(JSON_VALUE(...), JSON_QUERY(...)): a scalar as text, a container as JSON. */
    static String scalarOrJson(JsonNode node) {
        if (node != null && node.isContainerNode()) {
            return node.toString();
        }
        return scalar(node);
    }

    /** A scalar that is present but not a number (a wrong type, not a missing value). */
    static boolean badDouble(JsonNode node) {
        String value = scalar(node);
        return value != null && toDouble(value) == null;
    }

    /** TRY_CAST(text AS DOUBLE), finite values only (NaN or Infinity is no measurement). */
    static Double toDouble(String text) {
        if (text == null) {
            return null;
        }
        try {
            double value = Double.parseDouble(text.trim());
            return Double.isFinite(value) ? value : null;
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /** TRY_CAST(text AS BIGINT), as Flink casts a string: optional sign, digits, an optional fraction (truncated). */
    static Long toLong(String text) {
        if (text == null) {
            return null;
        }
        String s = text.trim();
        int end = s.indexOf('.');
        String integral = end < 0 ? s : s.substring(0, end);
        if (end >= 0) {
            for (int i = end + 1; i < s.length(); i++) {
                if (!Character.isDigit(s.charAt(i))) {
                    return null;
                }
            }
        }
        if (integral.isEmpty() || integral.equals("+") || integral.equals("-")) {
            return null;
        }
        try {
            return Long.parseLong(integral.startsWith("+") ? integral.substring(1) : integral);
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /** The value when it lies in [min, max] (the range of the column it is written to), else null. */
    static Long within(Long value, long min, long max) {
        return value == null || value < min || value > max ? null : value;
    }

    static Integer within(Integer value, int min, int max) {
        return value == null || value < min || value > max ? null : value;
    }

    /** TRY_CAST(text AS INT). */
    static Integer toInt(String text) {
        Long value = toLong(text);
        return value == null || value < Integer.MIN_VALUE || value > Integer.MAX_VALUE ? null : value.intValue();
    }
}
