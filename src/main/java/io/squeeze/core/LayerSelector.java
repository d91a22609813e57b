package io.squeeze.core;


import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Which layers a command touches: a comma-separated list of layer indices ({@code 0}), index ranges
 * ({@code 1-3}) and name globs ({@code dense*}); {@code all} (the default) matches every layer.
 */
public record LayerSelector(List<String> tokens) implements Serializable {
    public static final LayerSelector ALL = new LayerSelector(List.of("all"));

    /** Parses the comma-separated spec; {@link #toString} reads back. */
    @com.fasterxml.jackson.annotation.JsonCreator
    public static LayerSelector parse(String spec) {
        if (spec == null || spec.isBlank()) return ALL;
        List<String> t = new ArrayList<>();
        for (String s : spec.split(",")) if (!s.isBlank()) t.add(s.trim());
        return new LayerSelector(t);
    }

    public boolean matches(int index, String name) {
        for (String t : tokens) {
            if (t.equals("all")) return true;
            if (t.matches("[0-9]+") && Integer.parseInt(t) == index) return true;
            if (t.matches("[0-9]+-[0-9]+")) {
                String[] ab = t.split("-");
                if (index >= Integer.parseInt(ab[0]) && index <= Integer.parseInt(ab[1])) return true;
            }
            if (name != null && glob(t).matcher(name).matches()) return true;
        }
        return false;
    }

    static Pattern glob(String g) {
        StringBuilder sb = new StringBuilder();
        for (char c : g.toCharArray()) {
            if (c == '*') sb.append(".*");
            else if (c == '?') sb.append('.');
            else sb.append(Pattern.quote(String.valueOf(c)));
        }
        return Pattern.compile(sb.toString());
    }

    /**
     * This selector for a network whose layers moved: index {@code i} of the old network is {@code to[i]} in the new
     * one (e.g. after batch normalizations were folded away); ranges become their indices, names stay globs.
     */
    public LayerSelector reindexed(int[] to) {
        List<String> t = new ArrayList<>();
        for (String s : tokens) {
            if (s.matches("[0-9]+")) {
                int i = Integer.parseInt(s);
                t.add(i < to.length ? String.valueOf(to[i]) : s);
            } else if (s.matches("[0-9]+-[0-9]+")) {
                String[] ab = s.split("-");
                for (int i = Integer.parseInt(ab[0]); i <= Math.min(Integer.parseInt(ab[1]), to.length - 1); i++) t.add(String.valueOf(to[i]));
            } else t.add(s);
        }
        return new LayerSelector(t);
    }

    /** Fails when nothing matched. */
    public void requireMatch(boolean any, String flag) {
        if (!any) throw new BadInputException(flag + " '" + String.join(",", tokens) + "' matches no layer with weights");
    }

    @com.fasterxml.jackson.annotation.JsonValue
    @Override
    public String toString() {
        return String.join(",", tokens);
    }
}
