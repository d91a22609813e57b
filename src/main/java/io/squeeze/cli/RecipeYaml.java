package io.squeeze.cli;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.squeeze.core.BadInputException;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A recipe's YAML as a tree that remembers where every key and value stands in the file, so that a bad value is
 * reported as {@code recipe.yaml:12:5: ...}. Parsed with Jackson's YAML module (streaming, so that locations are
 * kept); scalars keep their YAML text ({@code 0.10} stays {@code "0.10"}), as a command line would see it.
 */
final class RecipeYaml {
    private RecipeYaml() {}

    /** A value and where it starts: a {@link String} scalar, {@code null}, a {@code Map<String, Node>} or a {@code List<Node>}. */
    record Node(Object value, int line, int column, String origin) {
        Node(Object value, int line, int column) {
            this(value, line, column, null);
        }

        boolean isMap() {
            return value instanceof Map;
        }

        boolean isList() {
            return value instanceof List;
        }

        @SuppressWarnings("unchecked")
        Map<String, Node> map() {
            return (Map<String, Node>) value;
        }

        @SuppressWarnings("unchecked")
        List<Node> list() {
            return (List<Node>) value;
        }

        String scalar() {
            return value instanceof String s ? s : null;
        }

        /** The node as plain Java values (maps, lists, strings, null), for recording the recipe. */
        Object plain() {
            if (isMap()) {
                Map<String, Object> m = new LinkedHashMap<>();
                map().forEach((k, v) -> m.put(k, v.plain()));
                return m;
            }
            if (isList()) return list().stream().map(Node::plain).toList();
            return value;
        }
    }

    /** Reads YAML text (one document) into a tree; {@code file} names it in messages. */
    static Node parse(String file, String text) {
        try (JsonParser p = new YAMLFactory().createParser(text)) {
            JsonToken t = p.nextToken();
            if (t == null) throw new BadInputException("recipe " + file + " is empty");
            Node n = read(file, p, t);
            if (p.nextToken() != null) throw new BadInputException(at(file, p.currentTokenLocation()) + "recipe must be one YAML document");
            return n;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            JsonLocation l = e.getLocation();
            String msg = String.valueOf(e.getOriginalMessage()).lines().findFirst().orElse("").strip();
            throw new BadInputException((l == null ? file + ": " : at(file, l)) + "not valid YAML (" + msg + ")");
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static Node read(String file, JsonParser p, JsonToken t) throws IOException {
        JsonLocation l = p.currentTokenLocation();
        int line = l.getLineNr(), col = l.getColumnNr();
        switch (t) {
            case START_OBJECT -> {
                Map<String, Node> m = new LinkedHashMap<>();
                for (JsonToken k = p.nextToken(); k != JsonToken.END_OBJECT; k = p.nextToken()) {
                    JsonLocation kl = p.currentTokenLocation();
                    String key = p.currentName();
                    Node v = read(file, p, p.nextToken());
                    // the key's position names the entry (a value on the next line would point past it)
                    if (m.put(key, new Node(v.value(), kl.getLineNr(), kl.getColumnNr())) != null)
                        throw new BadInputException(at(file, kl) + "key '" + key + "' appears twice");
                }
                return new Node(Collections.unmodifiableMap(m), line, col);
            }
            case START_ARRAY -> {
                List<Node> list = new ArrayList<>();
                for (JsonToken e = p.nextToken(); e != JsonToken.END_ARRAY; e = p.nextToken()) list.add(read(file, p, e));
                return new Node(Collections.unmodifiableList(list), line, col);
            }
            case VALUE_NULL -> {
                return new Node(null, line, col);
            }
            default -> {
                return new Node(p.getText(), line, col);
            }
        }
    }

    static String at(String file, JsonLocation l) {
        return file + ":" + l.getLineNr() + ":" + l.getColumnNr() + ": ";
    }

    static String at(String file, Node n) {
        if (n.origin() != null) return n.origin() + ": ";
        return file + ":" + n.line() + ":" + n.column() + ": ";
    }

    /**
     * Applies {@code --set path.to.key=value}: dots separate map keys and list indices (0-based); in {@code stages}
     * a stage may also be named by its technique when only one stage has it ({@code stages.prune.amount=0.9}).
     * The value is read as YAML. Returns the new tree; a path that does not fit the recipe is bad input.
     */
    static Node set(String file, Node root, String assignment) {
        int eq = assignment.indexOf('=');
        if (eq <= 0) throw new BadInputException("--set must be PATH=VALUE, got '" + assignment + "'");
        String[] path = assignment.substring(0, eq).trim().split("\\.");
        Node value = parse("--set " + assignment, assignment.substring(eq + 1).isBlank() ? "null" : assignment.substring(eq + 1));
        return set(file, root, path, 0, from(value, "--set " + assignment), assignment);
    }

    private static Node set(String file, Node at, String[] path, int i, Node value, String assignment) {
        if (i == path.length) return value;
        String k = path[i];
        if (at != null && at.isList()) {
            List<Node> l = new ArrayList<>(at.list());
            int idx = listIndex(l, k, assignment);
            // a stage named by its technique: the name is also the key inside the stage
            l.set(idx, set(file, l.get(idx), path, k.matches("[0-9]+") ? i + 1 : i, value, assignment));
            return new Node(Collections.unmodifiableList(l), at.line(), at.column());
        }
        if (at != null && !at.isMap() && at.value() != null)
            throw new BadInputException("--set " + assignment + ": '" + String.join(".", java.util.Arrays.copyOf(path, i)) + "' is a value, not a map");
        Map<String, Node> m = new LinkedHashMap<>(at == null || at.value() == null ? Map.of() : at.map());
        m.put(k, set(file, m.get(k), path, i + 1, value, assignment));
        return new Node(Collections.unmodifiableMap(m), at == null ? 0 : at.line(), at == null ? 0 : at.column());
    }

    private static int listIndex(List<Node> l, String k, String assignment) {
        if (k.matches("[0-9]+")) {
            int idx = Integer.parseInt(k);
            if (idx >= l.size()) throw new BadInputException("--set " + assignment + ": index " + idx + " is past the list's " + l.size() + " entries");
            return idx;
        }
        int found = -1;
        for (int j = 0; j < l.size(); j++) {
            Node e = l.get(j);
            if (e.isMap() && e.map().containsKey(k)) {
                if (found >= 0) throw new BadInputException("--set " + assignment + ": more than one stage is '" + k + "'; name it by index");
                found = j;
            }
        }
        if (found < 0) throw new BadInputException("--set " + assignment + ": no stage '" + k + "'");
        return found;
    }

    /** {@code n} and everything under it as coming from {@code origin} (a command-line option, not the file). */
    private static Node from(Node n, String origin) {
        if (n.isMap()) {
            Map<String, Node> m = new LinkedHashMap<>();
            n.map().forEach((k, v) -> m.put(k, from(v, origin)));
            return new Node(Collections.unmodifiableMap(m), 0, 0, origin);
        }
        if (n.isList()) return new Node(n.list().stream().map(e -> from(e, origin)).toList(), 0, 0, origin);
        return new Node(n.value(), 0, 0, origin);
    }

    private static final Pattern VAR = Pattern.compile("\\$\\{([A-Za-z0-9_.-]+)}");

    /** Replaces {@code ${name}} in every scalar by the recipe's variable; an undefined one is bad input at its place. */
    static Node substitute(String file, Node n, Map<String, String> vars) {
        if (n.isMap()) {
            Map<String, Node> m = new LinkedHashMap<>();
            n.map().forEach((k, v) -> m.put(k, substitute(file, v, vars)));
            return new Node(Collections.unmodifiableMap(m), n.line(), n.column(), n.origin());
        }
        if (n.isList()) return new Node(n.list().stream().map(e -> substitute(file, e, vars)).toList(), n.line(), n.column(), n.origin());
        if (n.scalar() == null) return n;
        Matcher mt = VAR.matcher(n.scalar());
        StringBuilder sb = new StringBuilder();
        while (mt.find()) {
            String v = vars.get(mt.group(1));
            if (v == null) throw new BadInputException(at(file, n) + "variable ${" + mt.group(1) + "} is not defined (vars: "
                    + (vars.isEmpty() ? "none" : String.join(", ", vars.keySet())) + ")");
            mt.appendReplacement(sb, Matcher.quoteReplacement(v));
        }
        mt.appendTail(sb);
        return new Node(sb.toString(), n.line(), n.column(), n.origin());
    }
}
