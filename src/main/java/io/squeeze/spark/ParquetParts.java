package io.squeeze.spark;

import io.squeeze.core.Storage;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.format.ColumnChunk;
import org.apache.parquet.format.FileMetaData;
import org.apache.parquet.format.RowGroup;
import org.apache.parquet.format.Util;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Parquet part files that are the same bytes on every run: Spark's parts (named with a random job id) are copied,
 * on executors, to {@code part-00000.parquet, part-00001.parquet, …} in partition order with their footer made
 * deterministic. parquet-mr lists each column chunk's encodings from a {@code HashSet} of enum constants, whose
 * order follows identity hash codes and so changes from JVM to JVM; the copy sorts that list by the encodings'
 * Thrift ids. Nothing else in the file changes (same length, same data pages, same offsets).
 */
public final class ParquetParts {
    private static final byte[] MAGIC = "PAR1".getBytes(StandardCharsets.US_ASCII);

    private ParquetParts() {}

    /** Writes {@code df} as deterministic parts in {@code dir} (which must not exist). */
    public static void write(JavaSparkContext jsc, Storage st, Dataset<Row> df, Path dir, String rowGroupBytes) {
        Path raw = new Path(dir, "_spark");
        var w = df.write();
        if (rowGroupBytes != null) w = w.option("parquet.block.size", rowGroupBytes);
        w.parquet(raw.toString());
        List<String> parts = new ArrayList<>();
        for (FileStatus f : st.list(raw)) {
            String n = f.getPath().getName();
            if (n.startsWith("part-") && !n.endsWith(".crc")) parts.add(f.getPath().toString());
        }
        parts.sort(Comparator.comparing(p -> new Path(p).getName()));
        List<String[]> pairs = new ArrayList<>();
        for (int i = 0; i < parts.size(); i++) pairs.add(new String[]{parts.get(i), new Path(dir, String.format("part-%05d.parquet", i)).toString()});
        if (!pairs.isEmpty()) {
            SerializableConf conf = new SerializableConf(st.conf());
            jsc.parallelize(pairs, pairs.size()).foreach(p -> copy(new Storage(conf.get()), new Path(p[0]), new Path(p[1])));
        }
        st.delete(raw);
    }

    /** Copies one Parquet file with its column chunks' encoding lists sorted. */
    static void copy(Storage st, Path from, Path to) throws IOException {
        long len = st.length(from);
        try (FSDataInputStream in = st.fs(from).open(from)) {
            byte[] tail = new byte[8];
            in.readFully(len - 8, tail);
            if (!Arrays.equals(Arrays.copyOfRange(tail, 4, 8), MAGIC)) throw new IOException(from + " is not a Parquet file");
            int footerLen = ByteBuffer.wrap(tail, 0, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
            long footerStart = len - 8 - footerLen;
            byte[] footer = new byte[footerLen];
            in.readFully(footerStart, footer);
            FileMetaData md = Util.readFileMetaData(new ByteArrayInputStream(footer));
            for (RowGroup rg : md.getRow_groups())
                for (ColumnChunk cc : rg.getColumns())
                    if (cc.isSetMeta_data()) cc.getMeta_data().getEncodings().sort(Comparator.comparingInt(e -> e.getValue()));
            ByteArrayOutputStream fixed = new ByteArrayOutputStream(footerLen);
            Util.writeFileMetaData(md, fixed);
            in.seek(0);
            try (OutputStream out = st.create(to)) {
                byte[] buf = new byte[1 << 16];
                for (long left = footerStart; left > 0; ) {
                    int n = in.read(buf, 0, (int) Math.min(buf.length, left));
                    if (n < 0) throw new IOException(from + " ended early");
                    out.write(buf, 0, n);
                    left -= n;
                }
                fixed.writeTo(out);
                out.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(fixed.size()).array());
                out.write(MAGIC);
            }
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }
}
