package io.squeeze.artifact;

import io.squeeze.core.Storage;
import io.squeeze.core.BadInputException;
import io.squeeze.core.Version;
import io.squeeze.model.Json;
import org.apache.hadoop.fs.Path;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * A soft-target directory: Parquet part files {@code part-00000.parquet …} (fixed names and deterministic footers, so a rerun
 * writes identical files), {@code _soft-targets.json} (the {@link Manifest} below; the leading underscore keeps Parquet readers off it, with every part's size and
 * sha256) and {@code _SUCCESS} last, holding the manifest's sha256. On filesystems with an atomic rename (local,
 * HDFS) everything is written to a hidden sibling first; on object stores in place, {@code _SUCCESS} last.
 */
public final class SoftTargetsStore {
    public static final String MANIFEST = "_soft-targets.json", FORMAT = "squeeze-soft-targets";

    private SoftTargetsStore() {}

    /**
     * What a soft-target set holds.
     *
     * @param topK     0 when every logit is stored (column {@code logits}); else K, with columns {@code topk_index} and
     *                 {@code topk_logits} (the other classes' logits are treated as −∞: probability 0 at any temperature)
     * @param dataRows rows of the data it was made from (one output row per input row)
     */
    public record Manifest(String format, int version, String squeezeVersion, String created, String teacher, String teacherSha256,
                           String teacherKind, String data, long dataRows, long labelledRows, int classes, int topK,
                           List<String> command, Map<String, Object> config, Map<String, io.squeeze.artifact.Manifest.FileRecord> files) {}

    /** The manifest's version: 2 adds {@code config} (the command's validated record); 1 is read too. */
    public static final int VERSION = 2;

    /**
     * Writes the set: {@code writeParquet} writes the part files {@code part-00000.parquet …} into the directory it is
     * given and returns the manifest's content (teacher, data, counts); then the manifest (with every part's size and
     * sha256) and {@code _SUCCESS} are added.
     */
    public static Manifest write(Storage st, Path out, boolean overwrite, Function<Path, Manifest> writeParquet) {
        Manifest[] written = new Manifest[1];
        st.publish(out, overwrite, dir -> written[0] = fill(st, dir, writeParquet));
        return written[0];
    }

    private static Manifest fill(Storage st, Path dir, Function<Path, Manifest> writeParquet) {
        Manifest draft = writeParquet.apply(dir);
        Map<String, io.squeeze.artifact.Manifest.FileRecord> files = PartFiles.records(st, dir, "soft-target part");
        Manifest m = new Manifest(FORMAT, VERSION, Version.version(), Instant.now().toString(), draft.teacher(), draft.teacherSha256(),
                draft.teacherKind(), draft.data(), draft.dataRows(), draft.labelledRows(), draft.classes(), draft.topK(), draft.command(),
                draft.config(), files);
        PartFiles.seal(st, dir, MANIFEST, Json.bytes(m));
        return m;
    }

    /** Reads and verifies a set: {@code _SUCCESS} present and matching the manifest; every part present with its size. */
    public static Manifest read(Storage st, String uri) {
        Path dir = st.path(uri);
        if (!st.exists(dir)) throw new BadInputException("soft targets " + dir + " do not exist");
        Path success = new Path(dir, ArtifactWriter.SUCCESS), mp = new Path(dir, MANIFEST);
        if (!st.exists(success)) throw new BadInputException("soft targets " + dir + " are incomplete: no " + ArtifactWriter.SUCCESS);
        if (!st.exists(mp)) throw new BadInputException("soft targets " + dir + " are incomplete: no " + MANIFEST);
        byte[] mb = st.readAll(mp, "soft-target manifest");
        if (!new String(st.readAll(success, "marker"), StandardCharsets.US_ASCII).trim().equals(Storage.sha256(mb)))
            throw new BadInputException("soft targets " + dir + " are corrupt: " + MANIFEST + " does not match " + ArtifactWriter.SUCCESS);
        Manifest m;
        try {
            m = Json.read(mb, Manifest.class);
        } catch (RuntimeException e) {
            throw new BadInputException("soft targets " + dir + ": " + MANIFEST + " is not valid (" + e.getMessage() + ")");
        }
        if (!FORMAT.equals(m.format())) throw new BadInputException("soft targets " + dir + ": " + MANIFEST + " is not a soft-target manifest");
        if (m.version() > VERSION)
            throw new BadInputException("soft targets " + dir + " have manifest version " + m.version() + "; this Squeeze reads up to " + VERSION);
        for (var e : m.files().entrySet()) {
            Path p = new Path(dir, e.getKey());
            if (!st.exists(p) || st.length(p) != e.getValue().bytes())
                throw new BadInputException("soft targets " + dir + " are incomplete: " + e.getKey() + " is missing or has the wrong size");
        }
        return m;
    }
}
