package io.squeeze.model;

import org.deeplearning4j.nn.conf.layers.BaseRecurrentLayer;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.recurrent.SimpleRnn;

/**
 * The recurrent layers Squeeze handles, as one shape: input weights W [nIn, g·H], recurrent weights RW [H, g·H] and a
 * bias b [g·H] with g column blocks — the four gates of DL4J's {@code LSTM} (and of a {@link FactoredLstm}), or the
 * one block of a {@code SimpleRnn} ({@code h_t = act(x_t·W + h_{t−1}·RW + b)}, Elman 1990). Hidden unit u owns column
 * {@code k·H + u} of each block k.
 */
public final class Recurrent {
    private Recurrent() {}

    /** Whether {@code l} is an LSTM (plain or factored) or a SimpleRnn. */
    public static boolean is(Layer l) {
        return l instanceof LSTM || l instanceof SimpleRnn;
    }

    /** The column blocks of W, RW and b: 4 for an LSTM, 1 for a SimpleRnn. */
    public static int gates(Layer l) {
        return l instanceof LSTM ? 4 : 1;
    }

    /** "LSTM" or "SimpleRnn", for messages. */
    public static String name(boolean lstm) {
        return lstm ? "LSTM" : "SimpleRnn";
    }

    /** As above, of a layer. */
    public static String name(Layer l) {
        return name(l instanceof LSTM);
    }

    /** {@link #name} with its article, "a factorized …" for a factored layer: "an LSTM", "a SimpleRnn", for messages. */
    public static String kind(Layer l) {
        return (l instanceof FactoredRecurrent ? "a factorized " : l instanceof LSTM ? "an " : "a ") + name(l);
    }

    /** The layer's sequence layout. */
    public static org.deeplearning4j.nn.conf.RNNFormat format(Layer l) {
        return ((BaseRecurrentLayer) l).getRnnDataFormat();
    }
}
