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
    public static Map<String, Object> toMap(Object c) {
        return Json.MAPPER.convertValue(c, LinkedHashMap.class);
    }

    /**
     * Reads a stored config that is not a {@link JobConfig} (soft targets, augment) back into its record, validated as
     * when a command builds it; a record that refuses it is bad input naming {@code where}.
     */
    public static <T> T read(Map<String, Object> config, Class<T> type, String where) {
        try {
            return Json.MAPPER.convertValue(config, type);
        } catch (IllegalArgumentException e) {
            Throwable cause = root(e);
            throw new BadInputException(where + ": its config is not valid: " + String.valueOf(cause.getMessage()).lines().findFirst().orElse(""));
        }
    }

    private static Throwable root(Throwable e) {
        Throwable cause = e;
        while (cause.getCause() != null) cause = cause.getCause();
        return cause;
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
            Throwable cause = root(e);
            if (cause instanceof BadInputException b) throw new BadInputException(where + ": its config is not valid: " + b.getMessage());
            String what = config == null ? "no config" : "config of command '" + config.get("command") + "'";
            throw new BadInputException(where + " records a " + what + " that this Squeeze cannot run again ("
                    + cause.getMessage().lines().findFirst().orElse("") + ")");
        }
    }
}
