package io.squeeze.model;

import org.deeplearning4j.nn.api.Model;

/**
 * The kernels Squeeze trains with, installed in one place on every network it trains (each worker's network on the
 * executors, the in-process loop, the benchmark's loop): {@link JavaAdam} (Kingma &amp; Ba 2015's Adam as a Java loop,
 * in place of ND4J's native op; with {@link FusedAdamStep}, also dividing by the minibatch and subtracting the update
 * in the same pass), {@link DenseForwardOnce} (a ReLU dense layer's pre-activation once a step, and no input
 * gradient for a first layer), {@link OutputForwardOnce} (the output layer's pre-activation once a step, not once for
 * the gradient and again for the score), {@link ConvForwardOnce} (each convolution's forward pass once a step, not twice) and
 * {@link InputConvGradients} (the first convolution's backward pass without the input's gradient, and for stride 1 its
 * forward pass in Java, {@link StrideOneConvForward}) and
 * {@link JavaMaxPool} (max pooling's two passes as Java loops, without oneDNN's copies and repeated forward pass) keep the network's
 * configuration and saved form DL4J's own; after installing, the network's input gradient is undefined, so only
 * networks that train get them. {@link StepRelu} (ReLU's backward pass as a Java loop) goes into the layer
 * configurations, which are also what a network saves: a network that is saved or handed back has {@link #restore}
 * called first. Each is tested against DL4J's own path: StepRelu, ConvForwardOnce, DenseForwardOnce,
 * OutputForwardOnce, JavaMaxPool and FusedAdamStep bit for bit, JavaAdam, InputConvGradients and
 * StrideOneConvForward to float rounding. {@link ShapeInfoCache} goes in first, for the whole JVM: one native
 * shape-information buffer for each distinct shape instead of one for each new array (the same bits, tested).
 */
public final class TrainingKernels {
    private TrainingKernels() {}

    public static void install(Model net) {
        ShapeInfoCache.install(); // JVM-wide: a new array's shape information from a cache, not a fresh native buffer
        DenseForwardOnce.install(net); // before JavaAdam, which creates the updater over the network's layers
        OutputForwardOnce.install(net);
        JavaMaxPool.install(net);
        JavaAdam.install(net);
        FusedAdamStep.install(net); // after JavaAdam: its blocks also divide by the minibatch and subtract the update
        ConvForwardOnce.install(net); // before InputConvGradients, which wraps the first layer's
        InputConvGradients.install(net);
        StepRelu.install(net);
    }

    /** Gives {@code net}'s configuration back DL4J's own activation functions (the other kernels stay installed). */
    public static void restore(Model net) {
        StepRelu.restore(net);
    }
}
