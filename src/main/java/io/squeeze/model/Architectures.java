package io.squeeze.model;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Storage;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.nio.charset.StandardCharsets;

/** Builds DL4J configurations for {@link Arch}s: the one place that uses DL4J's configuration builders. */
public final class Architectures {
    private Architectures() {}

    /**
     * Training hyper-parameters shared by every architecture.
     *
     * @param seed         weight-initialisation seed
     * @param learningRate Adam's learning rate
     * @param l2           L2 weight decay (0 for none)
     * @param inputDropout probability of dropping an input feature during training (Srivastava et al. 2014)
     * @param dropout      probability of dropping a hidden unit (the input of every layer after the first)
     * @param lrDecay      step decay: the learning rate is multiplied by it after every epoch (null: constant)
     */
    public record Hyper(long seed, double learningRate, double l2, double inputDropout, double dropout, Double lrDecay) {
        public Hyper {
            if (!(learningRate > 0 && learningRate < 10)) throw new BadInputException("--lr must be in (0, 10), got " + learningRate);
            if (!(l2 >= 0)) throw new BadInputException("--l2 must be >= 0, got " + l2);
            if (!(inputDropout >= 0 && inputDropout < 1)) throw new BadInputException("--input-dropout must be in [0,1), got " + inputDropout);
            if (!(dropout >= 0 && dropout < 1)) throw new BadInputException("--dropout must be in [0,1), got " + dropout);
            if (lrDecay != null && !(lrDecay > 0 && lrDecay <= 1)) throw new BadInputException("--lr-decay must be in (0, 1], got " + lrDecay);
        }

        public Hyper(long seed, double learningRate, double l2, double inputDropout, double dropout) {
            this(seed, learningRate, l2, inputDropout, dropout, null);
        }

        public Hyper(long seed, double learningRate, double l2) {
            this(seed, learningRate, l2, 0, 0);
        }

        /** The learning rate of epoch {@code e} (1-based): step decay, {@code lrDecay^(e−1)} of the first epoch's. */
        public double learningRate(int epoch) {
            return lrDecay == null ? learningRate : learningRate * Math.pow(lrDecay, epoch - 1);
        }
    }

    /** Sets DL4J's dropout (it takes the retain probability) on the input of each layer: first layer, then the rest. */
    private static MultiLayerConfiguration withDropout(MultiLayerConfiguration c, Hyper h) {
        if (h.inputDropout() == 0 && h.dropout() == 0) return c;
        for (int i = 0; i < c.getConfs().size(); i++) {
            var l = c.getConf(i).getLayer();
            if (!(l instanceof org.deeplearning4j.nn.conf.layers.BaseLayer)) continue;
            double p = i == 0 ? h.inputDropout() : h.dropout();
            l.setIDropout(p == 0 ? null : new org.deeplearning4j.nn.conf.dropout.Dropout(1 - p));
        }
        return c;
    }

    /** Whether {@code arch} builds a {@code ComputationGraph} ({@link #graph}) rather than a layer stack ({@link #build}). */
    public static boolean isGraph(Arch arch, Storage st) {
        return arch instanceof Arch.ResNet || arch instanceof Arch.JsonFile j && ModelIO.isGraph(text(j, st))
                || arch instanceof Arch.ModelFile m && model(m, st).isGraph();
    }

    /** The model an {@link Arch.ModelFile} names, read as every command reads a model (graphs as graphs). */
    private static LoadedModel model(Arch.ModelFile m, Storage st) {
        org.apache.hadoop.fs.Path p = st.path(m.path());
        if (st.isDirectory(p))
            throw new BadInputException("--arch " + m.path() + " is a directory; --arch takes a model file (.zip, .h5) — "
                    + "squeeze export --model DIR --format dl4j --out X.zip writes an artifact's");
        return ModelIO.loadFile(st, p, true);
    }

    /**
     * {@code conf}'s layers made to train afresh as Squeeze's own architectures do: Adam at {@code h}'s rate (the
     * file's updater is whatever its training left, or none for a Keras import) and the seed {@code h} gives.
     */
    private static void afresh(java.util.stream.Stream<NeuralNetConfiguration> confs, Hyper h) {
        confs.forEach(c -> {
            c.setSeed(h.seed());
            if (c.getLayer() instanceof org.deeplearning4j.nn.conf.layers.BaseLayer b) {
                b.setIUpdater(new Adam(h.learningRate()));
                b.setBiasUpdater(null);
                // a layer built outside a NeuralNetConfiguration (Squeeze's surgery) carries NaN here; its weights were set
                if (Double.isNaN(b.getBiasInit())) b.setBiasInit(0);
                if (Double.isNaN(b.getGainInit())) b.setGainInit(1);
            }
        });
    }

    /** The graph configuration of {@code arch} for data of {@code numFeatures} and {@code numClasses}. */
    public static org.deeplearning4j.nn.conf.ComputationGraphConfiguration graph(Arch arch, int numFeatures, int numClasses, int[] imageShape,
                                                                                 Hyper h, Storage st) {
        if (arch instanceof Arch.ResNet r) return ResNetGraph.build(r, numFeatures, numClasses, imageShape, h);
        if (arch instanceof Arch.ModelFile m) {
            var c = model(m, st).graph().getConfiguration().clone();
            Graphs.seed(c, h.seed()); // the graph's own seed too: its weight initialisation draws from that one
            afresh(c.getVertices().values().stream().filter(v -> v instanceof org.deeplearning4j.nn.conf.graph.LayerVertex)
                    .map(v -> ((org.deeplearning4j.nn.conf.graph.LayerVertex) v).getLayerConf()), h);
            Graphs.checkFits(c, numFeatures, numClasses, "--arch " + arch);
            return c;
        }
        var c = parseGraph((Arch.JsonFile) arch, st);
        Graphs.checkFits(c, numFeatures, numClasses, "--arch " + arch);
        return c;
    }

    /** Refuses a graph architecture for {@code what}, which builds layer stacks; otherwise as {@link #check}. */
    public static void requireStack(Arch arch, Storage st, String what) {
        check(arch, st);
        if (isGraph(arch, st))
            throw new BadInputException(what + " " + arch + " is a graph; " + what + " builds layer stacks (train --arch " + arch + " --out X.zip trains a graph)");
    }

    public static MultiLayerConfiguration build(Arch arch, int numFeatures, int numClasses, int[] imageShape, Hyper h, Storage st) {
        requireStack(arch, st, "--arch");
        if (arch instanceof Arch.Mlp m) return withDropout(mlp(m, numFeatures, numClasses, h), h);
        if (arch instanceof Arch.Lstm l) return withDropout(recurrent(l, l.hidden(), true, numFeatures, numClasses, imageShape, h), h);
        if (arch instanceof Arch.Rnn r) return withDropout(recurrent(r, r.hidden(), false, numFeatures, numClasses, imageShape, h), h);
        if (arch instanceof Arch.LeNet5) return withDropout(lenet5(numFeatures, numClasses, imageShape, h, ConvolutionMode.Same, false, 6, 16, 120, 84), h);
        if (arch instanceof Arch.LeNet5Bn) return withDropout(lenet5(numFeatures, numClasses, imageShape, h, ConvolutionMode.Same, true, 6, 16, 120, 84), h);
        if (arch instanceof Arch.LeNet5Caffe) return withDropout(lenet5(numFeatures, numClasses, imageShape, h, ConvolutionMode.Truncate, false, 20, 50, 500), h);
        if (arch instanceof Arch.ModelFile m) {
            MultiLayerConfiguration c = model(m, st).net().getLayerWiseConfigurations().clone();
            afresh(c.getConfs().stream(), h);
            return fits(c, numFeatures, numClasses, "--arch " + arch);
        }
        return json((Arch.JsonFile) arch, numFeatures, numClasses, st);
    }

    private static NeuralNetConfiguration.ListBuilder base(Hyper h) {
        NeuralNetConfiguration.Builder b = new NeuralNetConfiguration.Builder().seed(h.seed()).dataType(DataType.FLOAT)
                .weightInit(WeightInit.RELU).updater(new Adam(h.learningRate()));
        if (h.l2() > 0) b.l2(h.l2());
        return b.list();
    }

    private static OutputLayer output(long nIn, int classes) {
        return new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(nIn).nOut(classes)
                .weightInit(WeightInit.XAVIER).activation(Activation.SOFTMAX).build();
    }

    private static MultiLayerConfiguration mlp(Arch.Mlp m, int nf, int classes, Hyper h) {
        var lb = base(h);
        long in = nf;
        for (int width : m.hidden()) {
            lb.layer(new DenseLayer.Builder().nIn(in).nOut(width).activation(Activation.RELU).build());
            in = width;
        }
        return lb.layer(output(in, classes)).build();
    }

    /**
     * LSTM layers (tanh cell, sigmoid gates, Xavier initialization, forget-gate bias 1), or with {@code lstm} false
     * SimpleRnn layers (tanh, Xavier), on rows read as sequences.
     */
    private static MultiLayerConfiguration recurrent(Arch a, int[] hidden, boolean lstm, int nf, int classes, int[] shape, Hyper h) {
        int steps = shape != null ? shape[0] : (int) Math.round(Math.sqrt(nf));
        if (shape == null && steps * steps != nf)
            throw new BadInputException("--arch " + a + " reads each row as square images' pixel rows; the data has " + nf + " features and no image shape");
        if (nf % steps != 0) throw new BadInputException("--arch " + a + ": " + nf + " features are not " + steps + " steps of equal width");
        var lb = base(h);
        long in = nf / steps;
        for (int width : hidden) {
            lb.layer(lstm ? new LSTM.Builder().nIn(in).nOut(width).activation(Activation.TANH).weightInit(WeightInit.XAVIER)
                    .dataFormat(RNNFormat.NWC).build()
                    : new org.deeplearning4j.nn.conf.layers.recurrent.SimpleRnn.Builder().nIn(in).nOut(width).activation(Activation.TANH)
                    .weightInit(WeightInit.XAVIER).dataFormat(RNNFormat.NWC).build());
            in = width;
        }
        return lb.layer(output(in, classes)).inputPreProcessor(0, new SequenceRows(steps, nf / steps))
                .inputPreProcessor(hidden.length, new LastStep(steps)).build();
    }

    /**
     * Two 5×5 convolutions ({@code first} and {@code second} channels, each max-pooled 2×2), dense ReLU layers, softmax;
     * with {@code bn} each convolution and hidden dense layer is bias-free and linear, followed by batch normalization and
     * a ReLU layer.
     */
    private static MultiLayerConfiguration lenet5(int nf, int classes, int[] shape, Hyper h, ConvolutionMode firstMode, boolean bn,
                                                  int first, int second, int... dense) {
        String name = bn ? "lenet5-bn" : firstMode == ConvolutionMode.Same ? "lenet5" : "lenet5-caffe";
        if (shape == null) {
            int side = (int) Math.round(Math.sqrt(nf));
            if (side * side != nf)
                throw new BadInputException("--arch " + name + " needs square images; the data has " + nf + " features and no image shape");
            shape = new int[]{side, side, 1};
        }
        int min = firstMode == ConvolutionMode.Same ? 12 : 16; // the second pooling needs a 2x2 input
        if (shape[0] < min || shape[1] < min)
            throw new BadInputException("--arch " + name + " needs images of at least " + min + "x" + min + ", got " + shape[0] + "x" + shape[1]);
        var lb = base(h);
        for (int conv = 0; conv < 2; conv++) {
            var c = new ConvolutionLayer.Builder(5, 5).nOut(conv == 0 ? first : second);
            if (conv == 0) c.convolutionMode(firstMode);
            normalized(lb, bn, bn ? c.hasBias(false).activation(Activation.IDENTITY).build() : c.activation(Activation.RELU).build());
            lb.layer(new SubsamplingLayer.Builder(SubsamplingLayer.PoolingType.MAX).kernelSize(2, 2).stride(2, 2).build());
        }
        for (int width : dense) {
            var d = new DenseLayer.Builder().nOut(width);
            normalized(lb, bn, bn ? d.hasBias(false).activation(Activation.IDENTITY).build() : d.activation(Activation.RELU).build());
        }
        return lb.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(classes)
                        .weightInit(WeightInit.XAVIER).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutionalFlat(shape[0], shape[1], shape[2]))
                .build();
    }

    /** Adds {@code layer}, then with {@code bn} a batch normalization and a ReLU layer. */
    private static void normalized(NeuralNetConfiguration.ListBuilder lb, boolean bn, org.deeplearning4j.nn.conf.layers.Layer layer) {
        lb.layer(layer);
        if (!bn) return;
        lb.layer(new org.deeplearning4j.nn.conf.layers.BatchNormalization.Builder().build());
        lb.layer(new org.deeplearning4j.nn.conf.layers.ActivationLayer.Builder().activation(Activation.RELU).build());
    }

    /**
     * Checks what can be checked of {@code arch} without data, before any Spark work: a JSON configuration must parse
     * and hold only layers Squeeze supports, ending in an OutputLayer.
     */
    public static void check(Arch arch, Storage st) {
        if (arch instanceof Arch.ModelFile m) model(m, st);
        if (arch instanceof Arch.JsonFile j) {
            if (isGraph(arch, st)) parseGraph(j, st);
            else parse(j, st);
        }
    }

    private static String text(Arch.JsonFile j, Storage st) {
        return new String(st.readAll(st.path(j.path()), "--arch configuration"), StandardCharsets.UTF_8);
    }

    private static org.deeplearning4j.nn.conf.ComputationGraphConfiguration parseGraph(Arch.JsonFile j, Storage st) {
        org.deeplearning4j.nn.conf.ComputationGraphConfiguration c;
        try {
            c = org.deeplearning4j.nn.conf.ComputationGraphConfiguration.fromJson(text(j, st));
        } catch (RuntimeException e) {
            throw new BadInputException("--arch " + j.path() + " is not a DL4J ComputationGraphConfiguration JSON ("
                    + String.valueOf(e.getMessage()).lines().findFirst().orElse("").strip() + ")");
        }
        Graphs.checkRunnable(c, "--arch " + j.path());
        return c;
    }

    private static MultiLayerConfiguration parse(Arch.JsonFile j, Storage st) {
        String text = text(j, st);
        MultiLayerConfiguration c;
        try {
            c = MultiLayerConfiguration.fromJson(text);
        } catch (RuntimeException e) {
            throw new BadInputException("--arch " + j.path() + " is not a DL4J MultiLayerConfiguration JSON ("
                    + String.valueOf(e.getMessage()).lines().findFirst().orElse("").strip() + ")");
        }
        LayerSupport.check(c, "--arch " + j.path());
        return c;
    }

    private static MultiLayerConfiguration json(Arch.JsonFile j, int nf, int classes, Storage st) {
        return fits(parse(j, st), nf, classes, "--arch " + j.path());
    }

    /** {@code c}, refused when its outputs are not the data's classes or its inputs not the data's features. */
    private static MultiLayerConfiguration fits(MultiLayerConfiguration c, int nf, int classes, String what) {
        var last = c.getConf(c.getConfs().size() - 1).getLayer();
        if (last instanceof FeedForwardLayer ff && ff.getNOut() != classes)
            throw new BadInputException(what + " has " + ff.getNOut() + " outputs but the data has " + classes + " classes");
        if (c.getInputPreProcess(0) == null && c.getConf(0).getLayer() instanceof FeedForwardLayer ff && ff.getNIn() != nf)
            throw new BadInputException(what + " takes " + ff.getNIn() + " inputs but the data has " + nf + " features");
        var pre = c.getInputPreProcess(0);
        if (pre instanceof org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor || pre instanceof HwcRows || pre instanceof SequenceRows) {
            int width = ModelIO.deriveMeta(c, what).numFeatures(); // images or sequences of this many values
            if (width != nf) throw new BadInputException(what + " takes rows of " + width + " values but the data has " + nf + " features");
        }
        return c;
    }
}
