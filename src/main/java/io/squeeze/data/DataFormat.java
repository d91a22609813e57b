package io.squeeze.data;

/** How a dataset is stored; the prefix of a data URI ({@code idx:DIR}, {@code csv:PATH}, ...). */
public enum DataFormat {
    /** MNIST-format IDX files (raw or .gz) in a directory; pixels are divided by 255. */
    IDX("idx"),
    /** Parquet with a {@code features} column (array of float/double or a Spark ML vector) and an integer {@code label}. */
    PARQUET("parquet"),
    /** Comma-separated numeric features, the integer label last; optional header; .gz allowed. */
    CSV("csv"),
    /** LIBSVM text: {@code label idx:value ...} with 1-based feature indices. */
    LIBSVM("libsvm");

    private final String prefix;

    DataFormat(String prefix) {
        this.prefix = prefix;
    }

    public String prefix() {
        return prefix;
    }
}
