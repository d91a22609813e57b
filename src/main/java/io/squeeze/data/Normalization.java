package io.squeeze.data;

/** The feature transform recorded with a model so that every later command applies the same one. */
public enum Normalization {
    /** Features used exactly as stored. */
    NONE,
    /** (x - min) / (max - min) per feature, from the training data; constant features map to 0. */
    MINMAX,
    /** (x - mean) / std per feature (population std), from the training data; constant features map to 0. */
    STANDARD
}
