package io.squeeze.model;

/** What a model path pointed at. */
public enum SourceKind {
    DL4J_ZIP, KERAS_H5, ARTIFACT
}
