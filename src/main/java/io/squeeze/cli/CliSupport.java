package io.squeeze.cli;

import io.squeeze.artifact.Storage;
import io.squeeze.model.Json;
import org.apache.hadoop.fs.Path;
import java.util.UUID;

/** Small helpers shared by the commands. */
final class CliSupport {
    private CliSupport() {}

    /** Writes a JSON file atomically where the filesystem allows (temporary sibling, then rename). */
    static void writeJson(Storage st, Path target, Object value, boolean overwrite) {
        Path tmp = new Path(target.getParent(), "." + target.getName() + ".tmp-" + UUID.randomUUID());
        st.mkdirs(target.getParent());
        st.write(tmp, Json.bytes(value));
        if (st.exists(target)) {
            if (!overwrite) {
                st.delete(tmp);
                throw new io.squeeze.BadInputException("output " + target + " exists; pass --overwrite to replace it");
            }
            st.delete(target);
        }
        if (!st.rename(tmp, target)) {
            st.delete(tmp);
            throw new IllegalStateException("could not move " + tmp + " to " + target);
        }
    }
}
