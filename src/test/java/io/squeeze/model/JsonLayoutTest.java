package io.squeeze.model;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Squeeze's JSON layout: two levels indented, one line per deeper object and per element of an array of objects; read back equal. */
class JsonLayoutTest {

    @Test
    void aTableOfRecordsIsOneLinePerRecordAndDeeperObjectsOneLineEach() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("format_version", 2);
        m.put("command", List.of("quantize", "--bits", "4"));
        Map<String, Object> l0 = new LinkedHashMap<>();
        l0.put("index", 0);
        l0.put("shape", List.of(784, 300));
        l0.put("details", Map.of("bits", 4));
        m.put("layers", List.of(l0, Map.of("index", 1), Map.of()));
        Map<String, Object> ft = new LinkedHashMap<>();
        ft.put("epochs", 0);
        ft.put("lr", null);
        m.put("config", Map.of("fine_tune", ft));
        String json = new String(Json.bytes(m), StandardCharsets.UTF_8);
        assertEquals(String.join("\n",
                "{",
                "  \"format_version\" : 2,",
                "  \"command\" : [ \"quantize\", \"--bits\", \"4\" ],",
                "  \"layers\" : [ ",
                "    { \"index\" : 0, \"shape\" : [ 784, 300 ], \"details\" : { \"bits\" : 4 } }, ",
                "    { \"index\" : 1 }, ",
                "    { } ],",
                "  \"config\" : {",
                "    \"fine_tune\" : { \"epochs\" : 0, \"lr\" : null }",
                "  }",
                "}"), json);
        assertEquals(m.toString(), Json.read(Json.bytes(m), Map.class).toString());
    }
}
