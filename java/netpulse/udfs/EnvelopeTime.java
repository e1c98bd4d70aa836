package netpulse.udfs;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * The envelope {@code timestamp} of a gateway event line (unix ms, a number or a numeric
 * string), or NULL: TRY_CAST(JSON_VALUE(line, '$.timestamp') AS BIGINT) without building the
 * document. The source's event time and watermark come from it, so it runs on every line.
 *
 * <p>Streams the top-level keys and stops at {@code timestamp}; nested values are skipped
 * token by token. A line that breaks off after its timestamp still gives that timestamp (the
 * line itself is rejected as malformed_json by {@link ParseGatewayEvent}).
 */
public class EnvelopeTime extends ScalarFunction {

    private static final JsonFactory FACTORY = new JsonFactory();

    public Long eval(String line) {
        return read(line);
    }

    static Long read(String line) {
        if (line == null) {
            return null;
        }
        try (JsonParser parser = FACTORY.createParser(line)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            for (JsonToken token = parser.nextToken(); token == JsonToken.FIELD_NAME; token = parser.nextToken()) {
                String name = parser.currentName();
                JsonToken value = parser.nextToken();
                if ("timestamp".equals(name)) {
                    if (value == JsonToken.VALUE_STRING || value == JsonToken.VALUE_NUMBER_INT) {
                        return ParseGatewayEvent.toLong(parser.getText());
                    }
                    if (value == JsonToken.VALUE_NUMBER_FLOAT) {
                        return ParseGatewayEvent.toLong(parser.getDecimalValue().toString());
                    }
                    return null;
                }
                parser.skipChildren();
            }
            return null;
        } catch (Exception e) {
            return null;
        }
    }
}
