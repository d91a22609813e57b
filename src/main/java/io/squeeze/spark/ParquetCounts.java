package io.squeeze.spark;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.column.statistics.Statistics;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.metadata.BlockMetaData;
import org.apache.parquet.hadoop.metadata.ColumnChunkMetaData;
import org.apache.parquet.hadoop.util.HadoopInputFile;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Optional;

/**
 * Row counts of the Parquet part files Spark wrote into a directory, read from their footers — each row group's row
 * count and a column's null count from its statistics — instead of two Spark jobs that scan the files again. Empty
 * when a row group carries no null count for the column (a writer that skips statistics).
 */
final class ParquetCounts {
    private ParquetCounts() {}

    /** Rows, and rows whose {@code column} is not null. */
    record Counts(long rows, long nonNull) {}

    static Optional<Counts> of(Configuration conf, Path dir, String column) {
        long rows = 0, nonNull = 0;
        try {
            FileSystem fs = dir.getFileSystem(conf);
            for (FileStatus f : fs.listStatus(dir)) {
                String n = f.getPath().getName();
                if (!n.startsWith("part-") || !n.contains(".parquet") || n.endsWith(".crc")) continue;
                try (ParquetFileReader r = ParquetFileReader.open(HadoopInputFile.fromStatus(f, conf))) {
                    for (BlockMetaData b : r.getFooter().getBlocks()) {
                        ColumnChunkMetaData c = b.getColumns().stream().filter(x -> x.getPath().toDotString().equals(column))
                                .findFirst().orElse(null);
                        Statistics<?> s = c == null ? null : c.getStatistics();
                        if (s == null || !s.isNumNullsSet()) return Optional.empty();
                        rows += b.getRowCount();
                        nonNull += b.getRowCount() - s.getNumNulls();
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("reading the Parquet footers under " + dir, e);
        }
        return Optional.of(new Counts(rows, nonNull));
    }
}
