package io.squeeze.model;

import io.squeeze.core.BadInputException;

import java.util.Arrays;

/** A network architecture as {@code train --arch} names it; manifests store that name ({@link #toString}). */
public sealed interface Arch {
    /** The name {@link #parse} reads back. */
    @com.fasterxml.jackson.annotation.JsonValue
    String toString();

    /** Fully connected ReLU layers of the given widths, then a softmax output (e.g. LeNet-300-100). */
    record Mlp(int[] hidden) implements Arch {
        public Mlp {
            checkWidths("mlp", hidden, "300,100");
        }

        @Override
        public String toString() {
            return named("mlp", hidden);
        }
    }

    /** LeCun et al. 1998's LeNet-5: conv 6@5×5 (same), max-pool, conv 16@5×5, max-pool, dense 120, 84, softmax. */
    record LeNet5() implements Arch {
        @Override
        public String toString() {
            return "lenet5";
        }
    }

    /**
     * LeNet-5 with batch normalization (Ioffe &amp; Szegedy 2015) after each convolution and hidden dense layer, as
     * modern networks place it: convolution or dense layer without bias or activation, batch normalization, ReLU layer
     * — the form {@link BatchNormFold} folds for inference and quantization.
     */
    record LeNet5Bn() implements Arch {
        @Override
        public String toString() {
            return "lenet5-bn";
        }
    }

    /**
     * Caffe's LeNet-5 (examples/mnist/lenet_train_test.prototxt), the network of Han et al.'s pruning and Deep
     * Compression tables: conv 20@5×5, max-pool, conv 50@5×5, max-pool, dense 500 ReLU, softmax — 431,080 parameters
     * on 28×28 images (1,724 KB in fp32).
     */
    record LeNet5Caffe() implements Arch {
        @Override
        public String toString() {
            return "lenet5-caffe";
        }
    }

    /**
     * Stacked LSTM layers (Hochreiter &amp; Schmidhuber 1997, with a forget gate as Gers et al. 2000) of the given widths
     * reading each input row as a sequence — an image as one step per pixel row ("sequential MNIST", 28 steps of 28
     * features) — and a softmax output on the last step's hidden state ({@link LastStep}).
     */
    record Lstm(int[] hidden) implements Arch {
        public Lstm {
            checkWidths("lstm", hidden, "128");
        }

        @Override
        public String toString() {
            return named("lstm", hidden);
        }
    }

    /**
     * Stacked simple recurrent layers (Elman 1990; DL4J's {@code SimpleRnn}: {@code h_t = tanh(x_t·W + h_{t−1}·RW + b)})
     * of the given widths, reading each row as a sequence as {@link Lstm} does, softmax on the last step's state.
     */
    record Rnn(int[] hidden) implements Arch {
        public Rnn {
            checkWidths("rnn", hidden, "128");
        }

        @Override
        public String toString() {
            return named("rnn", hidden);
        }
    }

    /**
     * He et al. 2016's residual network for small images with {@code blocks} residual blocks in each of its three
     * stages ({@link ResNetGraph}): a {@code ComputationGraph}, written as a DL4J zip.
     */
    record ResNet(int blocks) implements Arch {
        public ResNet {
            if (blocks <= 0 || blocks > 18) throw new BadInputException("--arch resnet:" + blocks + ": resnet:N needs 1 to 18 blocks per stage");
        }

        @Override
        public String toString() {
            return "resnet:" + blocks;
        }
    }

    /** A DL4J {@code MultiLayerConfiguration} or {@code ComputationGraphConfiguration} JSON file on any Hadoop filesystem. */
    record JsonFile(String path) implements Arch {
        @Override
        public String toString() {
            return path;
        }
    }

    /**
     * The architecture of a model file — a DL4J zip (stack or graph) or a Keras {@code .h5}, as every command reads
     * it — trained afresh: its layers initialized by their own weight-init functions from the seed, Adam at
     * {@code --lr}; its weights are not used.
     */
    record ModelFile(String path) implements Arch {
        @Override
        public String toString() {
            return path;
        }
    }

    /** Refuses a family's empty or non-positive layer widths. */
    private static void checkWidths(String family, int[] hidden, String example) {
        if (hidden.length == 0) throw new BadInputException("--arch " + family + " needs at least one hidden size, e.g. " + family + ":" + example);
        for (int h : hidden) if (h <= 0) throw new BadInputException("--arch " + family + " hidden sizes must be > 0, got " + h);
    }

    /** {@code family:w1,w2,...} */
    private static String named(String family, int[] hidden) {
        return family + ":" + String.join(",", Arrays.stream(hidden).mapToObj(Integer::toString).toList());
    }

    /** Whether {@code s} names an architecture (rather than a model path): a family name or a {@code .json} configuration. */
    static boolean isArchitecture(String s) {
        return s.startsWith("mlp:") || s.startsWith("lstm:") || s.startsWith("rnn:") || s.startsWith("resnet:") || s.equals("lenet5") || s.equals("lenet5-bn") || s.equals("lenet5-caffe")
                || s.endsWith(".json");
    }

    @com.fasterxml.jackson.annotation.JsonCreator
    static Arch parse(String s) {
        if (s == null || s.isBlank()) throw new BadInputException("--arch must be given (mlp:300,100, lstm:128, rnn:128, lenet5, lenet5-bn, lenet5-caffe, resnet:3 or a DL4J JSON file)");
        if (s.equals("lenet5")) return new LeNet5();
        if (s.equals("lenet5-caffe")) return new LeNet5Caffe();
        if (s.equals("lenet5-bn")) return new LeNet5Bn();
        if (s.startsWith("resnet:")) {
            try {
                return new ResNet(Integer.parseInt(s.substring("resnet:".length()).trim()));
            } catch (NumberFormatException e) {
                throw new BadInputException("--arch '" + s + "': the blocks per stage must be an integer, e.g. resnet:3");
            }
        }
        for (String family : new String[]{"mlp:", "lstm:", "rnn:"}) {
            if (!s.startsWith(family)) continue;
            int[] sizes;
            try {
                sizes = Arrays.stream(s.substring(family.length()).split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
            } catch (NumberFormatException e) {
                throw new BadInputException("--arch '" + s + "': hidden sizes must be integers, e.g. " + family + (family.equals("mlp:") ? "300,100" : "128"));
            }
            return family.equals("mlp:") ? new Mlp(sizes) : family.equals("lstm:") ? new Lstm(sizes) : new Rnn(sizes);
        }
        if (s.endsWith(".json")) return new JsonFile(s);
        if (s.endsWith(".zip") || s.endsWith(".h5") || s.endsWith(".hdf5")) return new ModelFile(s);
        throw new BadInputException("--arch '" + s + "' is not mlp:H1,H2,..., lstm:H1,..., rnn:H1,..., lenet5, lenet5-bn, lenet5-caffe, resnet:N, "
                + "a .json DL4J configuration or a model file (.zip, .h5) whose architecture to train");
    }
}
