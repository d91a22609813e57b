package io.squeeze.cli;

import io.squeeze.data.DataSpec;
import io.squeeze.data.Split;
import picocli.CommandLine.Option;

/** How every command names a dataset. */
final class DataOptions {
    @Option(names = "--data", required = true, paramLabel = "D",
            description = "idx:DIR, parquet:PATH, csv:PATH or libsvm:PATH, on file:, hdfs:// or s3a://")
    String data;

    @Option(names = "--split", paramLabel = "train|test", description = "IDX split to read (default: ${DEFAULT-VALUE})")
    Split split;

    @Option(names = "--csv-header", description = "CSV files start with a header line")
    boolean csvHeader;

    DataSpec spec(Split defaultSplit) {
        return DataSpec.parse(data, split == null ? defaultSplit : split, csvHeader);
    }
}
