package io.squeeze.core;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** Squeeze's version and the git commit it was built from (filtered into a resource at build time). */
public final class Version {
    private static final Properties P = new Properties();

    static {
        try (InputStream in = Version.class.getResourceAsStream("/io/squeeze/version.properties")) {
            if (in != null) P.load(in);
        } catch (IOException ignored) {
            // no resource: report "unknown"
        }
    }

    private Version() {}

    public static String version() {
        return clean(P.getProperty("version"));
    }

    public static String gitCommit() {
        String c = clean(P.getProperty("commit"));
        return "true".equals(P.getProperty("dirty")) ? c + "-dirty" : c;
    }

    private static String clean(String v) {
        return v == null || v.isBlank() || v.startsWith("${") ? "unknown" : v;
    }
}
