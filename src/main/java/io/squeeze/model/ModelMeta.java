package io.squeeze.model;

import io.squeeze.data.Normalizer;

import java.util.Arrays;

/**
 * What Squeeze records beside a network so every later command reads data the same way (stored as
 * {@code squeeze.json} inside the DL4J zip, which DL4J itself ignores).
 *
 * @param numFeatures input width
 * @param numClasses  output classes
 * @param inputShape  {height, width, channels} for image models, or null
 * @param normalizer  the feature transform fitted at training time
 * @param trainedOn   a description of the training data ("" when unknown)
 */
public record ModelMeta(int numFeatures, int numClasses, int[] inputShape, Normalizer normalizer, String trainedOn) {
    public ModelMeta {
        if (numFeatures <= 0) throw new IllegalArgumentException("numFeatures must be > 0, got " + numFeatures);
        if (numClasses <= 0) throw new IllegalArgumentException("numClasses must be > 0, got " + numClasses);
        if (normalizer == null) normalizer = Normalizer.NONE;
        if (trainedOn == null) trainedOn = "";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ModelMeta m && m.numFeatures == numFeatures && m.numClasses == numClasses
                && Arrays.equals(m.inputShape, inputShape) && m.normalizer.equals(normalizer) && m.trainedOn.equals(trainedOn);
    }

    @Override
    public int hashCode() {
        return 31 * numFeatures + numClasses;
    }
}
