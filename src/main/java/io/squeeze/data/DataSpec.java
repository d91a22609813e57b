package io.squeeze.data;

import io.squeeze.core.BadInputException;

import java.io.Serializable;
import java.util.Arrays;
import java.util.Locale;

/**
 * A dataset reference as the user writes it: {@code FORMAT:PATH} where PATH is any Hadoop URI
 * ({@code file:}, {@code hdfs://}, {@code s3a://}) or a local path.
 *
 * @param format    how the data is stored
 * @param path      where (a directory for IDX; a file or directory for the others)
 * @param split     the IDX split to read (ignored by other formats)
 * @param csvHeader whether CSV files start with a header line to skip
 */
public record DataSpec(DataFormat format, String path, Split split, boolean csvHeader) implements Serializable {

    public DataSpec {
        if (format == null) throw new BadInputException("data format must be given");
        if (path == null || path.isBlank()) throw new BadInputException("data path must not be empty");
        if (split == null) split = Split.TRAIN;
    }

    /** Parses {@code idx:DIR}, {@code parquet:PATH}, {@code csv:PATH} or {@code libsvm:PATH}. */
    public static DataSpec parse(String uri, Split split, boolean csvHeader) {
        if (uri == null) throw new BadInputException("--data must be given");
        int colon = uri.indexOf(':');
        String prefix = colon < 0 ? "" : uri.substring(0, colon).toLowerCase(Locale.ROOT);
        for (DataFormat f : DataFormat.values()) {
            if (f.prefix().equals(prefix)) return new DataSpec(f, uri.substring(colon + 1), split, csvHeader);
        }
        throw new BadInputException("data '" + uri + "' must start with one of "
                + Arrays.stream(DataFormat.values()).map(f -> f.prefix() + ":").toList());
    }

    /** The data as a URI that {@link #parse} reads back: {@code idx:DIR}, {@code parquet:PATH}, … */
    public String uri() {
        return format.prefix() + ":" + path;
    }

    @Override
    public String toString() {
        return format.prefix() + ":" + path + (format == DataFormat.IDX ? " (" + split.name().toLowerCase(Locale.ROOT) + ")" : "");
    }
}
