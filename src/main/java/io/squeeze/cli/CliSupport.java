package io.squeeze.cli;

import io.squeeze.core.Storage;
import io.squeeze.model.Json;
import org.apache.hadoop.fs.Path;

/** Small helpers shared by the commands. */
final class CliSupport {
    private CliSupport() {}

    /** Writes a JSON file atomically where the filesystem allows (temporary sibling, then rename). */
    static void writeJson(Storage st, Path target, Object value, boolean overwrite) {
        st.replace(target, Json.bytes(value), overwrite);
    }
}
