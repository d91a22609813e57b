package io.squeeze.data;

import java.io.Serializable;

/**
 * One labelled row.
 *
 * @param id       stable row id (position in the dataset)
 * @param features dense features, as stored or after the model's normalization
 * @param label    class index, or -1 where the data has no label
 */
public record Example(long id, float[] features, int label) implements Serializable {
}
