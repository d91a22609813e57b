package io.squeeze.data;

/** Which half of an IDX directory to read: {@code train-*} or {@code t10k-*} files. */
public enum Split {
    TRAIN("train"), TEST("t10k");

    private final String filePrefix;

    Split(String filePrefix) {
        this.filePrefix = filePrefix;
    }

    public String filePrefix() {
        return filePrefix;
    }
}
