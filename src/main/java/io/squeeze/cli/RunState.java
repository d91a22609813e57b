package io.squeeze.cli;

import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.core.Storage;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Split;
import io.squeeze.model.Json;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What {@code squeeze run} records between runs, and the identities it compares to decide that a stage is done.
 *
 * <p>A stage's <em>key</em> is the sha256 of its command line (without {@code --overwrite}), the identity of every
 * model or soft-target set it reads and the fingerprint of every data path it reads. A stage is skipped when its
 * record ({@code stages/NN-name.json}, written after the stage's output is complete) holds the same key and its
 * output still has the identity the record holds. Identities: an artifact's or a soft-target set's manifest
 * sha256 (the manifest lists every file's sha256), a file's sha256; data: the sha256 of its listing (relative path,
 * length, modification time of every file), so new data at the same path re-runs the stages that read it.
 */
final class RunState {
    private RunState() {}

    /** One finished stage, as {@code stages/NN-name.json} holds it. */
    record StageRecord(int index, String stage, String technique, List<String> command, String key, Map<String, String> inputs,
                       String output, String outputSha256, Map<String, Object> metrics, double seconds, String finished,
                       Map<String, Object> allocation) {}

    /** What {@code OUT/recipe.json} holds: the recipe a directory belongs to. */
    record RecipeRecord(String name, String file, Object recipe) {}

    static final String RECIPE = "recipe.json";

    static Path recordPath(Path out, Recipe.Stage s) {
        return new Path(new Path(out, "stages"), s.dir() + ".json");
    }

    static StageRecord read(Storage st, Path p) {
        if (!st.exists(p)) return null;
        try {
            return Json.read(st.readAll(p, "stage record"), StageRecord.class);
        } catch (RuntimeException e) {
            return null; // unreadable: the stage runs again
        }
    }

    static void write(Storage st, Path p, Object record) {
        st.replace(p, Json.bytes(record), true);
    }

    /** The identity of a model, soft-target set, report or data directory at {@code uri}; null if it is absent. */
    static String identity(Storage st, String uri) {
        Path p = st.path(uri);
        if (!st.exists(p)) return null;
        if (!st.isDirectory(p)) return st.sha256(p, "input");
        for (String marker : List.of(ArtifactWriter.MANIFEST, io.squeeze.artifact.SoftTargetsStore.MANIFEST)) {
            Path m = new Path(p, marker);
            if (st.exists(m)) {
                // an artifact is complete only with its _SUCCESS
                if (marker.equals(ArtifactWriter.MANIFEST) && !st.exists(new Path(p, ArtifactWriter.SUCCESS))) return null;
                return st.sha256(m, "manifest");
            }
        }
        return listing(st, p);
    }

    /** The fingerprint of a data URI ({@code FORMAT:PATH}): its files' relative paths, lengths and modification times. */
    static String dataFingerprint(Storage st, String uri) {
        Path p = st.path(DataSpec.parse(uri, Split.TRAIN, false).path());
        return st.exists(p) ? listing(st, p) : null;
    }

    private static String listing(Storage st, Path p) {
        TreeMap<String, String> files = new TreeMap<>();
        try {
            var fs = st.fs(p);
            FileStatus root = fs.getFileStatus(p);
            if (root.isFile()) files.put(p.getName(), root.getLen() + "@" + root.getModificationTime());
            else {
                String prefix = root.getPath().toUri().getPath();
                RemoteIterator<LocatedFileStatus> it = fs.listFiles(p, true);
                while (it.hasNext()) {
                    LocatedFileStatus f = it.next();
                    files.put(f.getPath().toUri().getPath().substring(prefix.length()), f.getLen() + "@" + f.getModificationTime());
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("could not list " + p + ": " + e.getMessage(), e);
        }
        return Storage.sha256(files.toString().getBytes(StandardCharsets.UTF_8));
    }

    /** The key of a stage about to run: its command line without {@code --overwrite}, and the identities of what it reads. */
    static String key(List<String> argv, Map<String, String> inputs) {
        List<String> a = new ArrayList<>(argv);
        a.remove("--overwrite");
        Map<String, Object> k = new LinkedHashMap<>();
        k.put("command", a);
        k.put("inputs", new TreeMap<>(inputs));
        return Storage.sha256(Json.compact(k));
    }

    /**
     * The identities of what the command line reads: models and soft targets by identity, data by fingerprint.
     * {@code produced} maps an earlier stage's output to its recorded identity; anything else is read now.
     */
    static Map<String, String> inputs(Storage st, List<String> argv, Map<String, String> produced) {
        Map<String, String> in = new LinkedHashMap<>();
        for (int i = 1; i + 1 < argv.size(); i++) {
            String o = argv.get(i), v = argv.get(i + 1);
            switch (o) {
                case "--model", "--teacher", "--soft-targets", "--baseline" -> in.put(v, produced.containsKey(v) ? produced.get(v) : identity(st, v));
                case "--data", "--fine-tune-data", "--calib-data", "--test-data", "--eval-data" -> in.put(v, dataFingerprint(st, v));
                default -> {
                }
            }
        }
        return in;
    }
}
