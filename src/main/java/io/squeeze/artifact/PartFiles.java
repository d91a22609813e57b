package io.squeeze.artifact;

import io.squeeze.core.Storage;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;

/**
 * A directory of Parquet part files ({@code part-00000.parquet …}, as {@code spark.ParquetParts} writes them) made
 * complete: soft-target sets and predictions. {@link #records} lists the parts with their sizes and sha256 for the
 * directory's manifest; {@link #seal} writes that manifest and then {@code _SUCCESS}, holding the manifest's sha256,
 * last.
 */
public final class PartFiles {
    private PartFiles() {}

    /** The parts' sizes and sha256 by name, in name order; every other file (Hadoop's {@code .crc} checksums) is deleted. */
    public static Map<String, Manifest.FileRecord> records(Storage st, Path dir, String what) {
        Map<String, Manifest.FileRecord> files = new TreeMap<>();
        for (FileStatus f : st.list(dir)) {
            String n = f.getPath().getName();
            if (n.startsWith("part-") && !n.endsWith(".crc")) files.put(n, new Manifest.FileRecord(f.getLen(), st.sha256(f.getPath(), what)));
            else st.delete(f.getPath());
        }
        return files;
    }

    /** Writes {@code manifest} as {@code name}, then {@code _SUCCESS} with its sha256 (last: the directory is complete). */
    public static void seal(Storage st, Path dir, String name, byte[] manifest) {
        st.write(new Path(dir, name), manifest);
        st.write(new Path(dir, ArtifactWriter.SUCCESS), Storage.sha256(manifest).getBytes(StandardCharsets.US_ASCII));
    }
}
