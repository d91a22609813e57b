package io.squeeze.spark;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.jsontype.NamedType;
import io.squeeze.core.BadInputException;
import io.squeeze.model.Json;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A {@link JobConfig} to and from the {@code config} map of a manifest. */
public final class Jobs {
    private Jobs() {}

    /** The record as the manifest stores it: its components (snake_case) and {@code "command"}. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> toMap(JobConfig c) {
        return Json.MAPPER.convertValue(c, LinkedHashMap.class);
    }

    /**
     * Reads a manifest's config back into its record, validated as when a command builds it. {@code types} names the
     * implementations of open interfaces inside configs (e.g. the pruning methods, registered by the CLI that names them).
     *
     * @param where the artifact, for the message when the config cannot be read
     */
    public static JobConfig fromMap(Map<String, Object> config, List<NamedType> types, String where) {
        ObjectMapper m = Json.MAPPER.copy();
        m.registerSubtypes(types.toArray(NamedType[]::new));
        try {
            return m.convertValue(config, JobConfig.class);
        } catch (IllegalArgumentException e) {
            Throwable cause = e;
            while (cause.getCause() != null) cause = cause.getCause();
            if (cause instanceof BadInputException b) throw new BadInputException(where + ": its config is not valid: " + b.getMessage());
            String what = config == null ? "no config" : "config of command '" + config.get("command") + "'";
            throw new BadInputException(where + " records a " + what + " that this Squeeze cannot run again ("
                    + cause.getMessage().lines().findFirst().orElse("") + ")");
        }
    }
}
