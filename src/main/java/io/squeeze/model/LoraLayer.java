package io.squeeze.model;

/**
 * A layer carrying a LoRA adapter (Hu et al. 2021): a dense layer ({@link LoraDense}) or a convolution
 * ({@link LoraConv}), its frozen base W (and b) plus trained A and B scaled by α/r.
 */
public sealed interface LoraLayer permits LoraDense, LoraConv {
    long nIn();

    long nOut();

    int rank();

    /** α / r. */
    double scale();

    /** The adapter's trained parameters: A's and B's. */
    long adapterParams();
}
