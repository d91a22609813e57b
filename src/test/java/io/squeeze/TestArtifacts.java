package io.squeeze;

import io.squeeze.artifact.Artifact;
import io.squeeze.artifact.Manifest;
import io.squeeze.core.Storage;
import org.apache.hadoop.conf.Configuration;

import java.util.Map;
import java.util.TreeMap;

/** Artifact helpers for tests. */
public final class TestArtifacts {
    private TestArtifacts() {}

    /** The sha256 of every {@code packed/} file of a verified artifact: equal maps mean the same stored model. */
    public static Map<String, String> packed(String artifact) {
        return packed(Artifact.load(new Storage(new Configuration()), artifact).manifest());
    }

    /** Every file of a directory tree on the local disk, bytes summed: what an artifact occupies. */
    public static long directoryBytes(java.nio.file.Path dir) throws java.io.IOException {
        try (var s = java.nio.file.Files.walk(dir)) {
            return s.filter(java.nio.file.Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
        }
    }

    /** The sha256 of every {@code packed/} file a manifest lists. */
    public static Map<String, String> packed(Manifest m) {
        Map<String, String> out = new TreeMap<>();
        m.files().forEach((k, v) -> {
            if (k.startsWith("packed/")) out.put(k, v.sha256());
        });
        return out;
    }
}
