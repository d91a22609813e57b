package io.squeeze.prune;

import io.squeeze.core.Mask;
import io.squeeze.core.BadInputException;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Structured pruning ({@code ln_structured}): ranks the slices of a tensor along an axis — output neurons of a
 * dense layer, output channels of a convolution, or their inputs — by the Ln norm of their entries and prunes the
 * k with the smallest norm among the slices not pruned yet (k = round-half-to-even(amount × alive slices)). Li et
 * al., "Pruning Filters for Efficient ConvNets" (ICLR 2017).
 */
public final class Structured {
    private Structured() {}

    /** Checks that the tensor has the dimension and more than one slice; returns the axis. */
    public static int check(Target t, LnStructured m, String what) {
        int axis = m.dim() == PruneMethod.Dim.OUT ? t.outAxis() : t.inAxis();
        if (axis < 0 || axis >= t.shape().length)
            throw new BadInputException("prune.dim " + m.dim().name().toLowerCase() + " does not exist for " + what + " of shape " + java.util.Arrays.toString(t.shape()));
        int slices = (int) t.shape()[axis];
        if (slices <= 1) throw new BadInputException("ln pruning needs more than one " + m.dim().name().toLowerCase() + " slice; " + what + " has " + slices);
        return axis;
    }

    public static Mask ln(Target t, LnStructured m, String what) {
        int axis = check(t, m, what);
        int slices = (int) t.shape()[axis];
        long stride = 1;
        for (int a = axis + 1; a < t.shape().length; a++) stride *= t.shape()[a];
        double[] norm = new double[slices];
        boolean[] alive = new boolean[slices];
        float[] v = t.values();
        for (int i = 0; i < v.length; i++) {
            int s = (int) ((i / stride) % slices);
            if (t.mask().kept(i)) alive[s] = true;
            double a = Math.abs((double) v[i]);
            switch (m.norm()) {
                case L1 -> norm[s] += a;
                case L2 -> norm[s] += a * a;
                case LINF -> norm[s] = Math.max(norm[s], a);
            }
        }
        List<Integer> candidates = new ArrayList<>();
        for (int s = 0; s < slices; s++) if (alive[s]) candidates.add(s);
        long k = t.amount().of(candidates.size(), what + " " + m.dim().name().toLowerCase() + " slices");
        candidates.sort(Comparator.comparingDouble((Integer s) -> norm[s]).thenComparingInt(s -> s));
        boolean[] prunedSlice = new boolean[slices];
        for (int i = 0; i < k; i++) prunedSlice[candidates.get(i)] = true;
        boolean[] kept = new boolean[v.length];
        for (int i = 0; i < v.length; i++) kept[i] = t.mask().kept(i) && !prunedSlice[(int) ((i / stride) % slices)];
        return Mask.of(kept);
    }

    /** Indices of the slices along {@code axis} that a mask has pruned entirely. */
    public static boolean[] deadSlices(Mask mask, long[] shape, int axis) {
        int slices = (int) shape[axis];
        long stride = 1;
        for (int a = axis + 1; a < shape.length; a++) stride *= shape[a];
        boolean[] alive = new boolean[slices];
        for (int i = 0; i < mask.size(); i++) if (mask.kept(i)) alive[(int) ((i / stride) % slices)] = true;
        boolean[] dead = new boolean[slices];
        for (int s = 0; s < slices; s++) dead[s] = !alive[s];
        return dead;
    }
}
