package dev.pollen.agent.setup;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * TOML in and out. Jackson's parser gives a tree whose tables keep the file's key order, which is all
 * containerd's files need: containerd tries a hosts.toml's {@code [host."..."]} tables in the order their
 * headers appear. Comments and formatting do not survive a parse, so whoever rewrites a user's file keeps
 * the original bytes elsewhere. The writer is ours because Jackson's writes nested tables as dotted keys,
 * which would give containerd no table headers to order the hosts by.
 */
final class TomlText {
    private static final TomlMapper MAPPER = new TomlMapper();
    private static final Pattern BARE_KEY = Pattern.compile("[A-Za-z0-9_-]+");

    private TomlText() {
    }

    /** Parses {@code text}, read from {@code file} (named in the message when it is not TOML). */
    static ObjectNode parse(Path file, byte[] text) {
        try {
            JsonNode tree = MAPPER.readTree(text);
            return tree == null || tree.isMissingNode() ? MAPPER.createObjectNode() : (ObjectNode) tree;
        } catch (JacksonException e) {
            throw new SetupException(file + " is not valid TOML: " + e.getOriginalMessage().strip()
                    + lineOf(e) + " (fix: correct or remove that file, then run this again)");
        } catch (java.io.IOException e) {
            throw new SetupException("cannot parse " + file + ": " + e.getMessage());
        }
    }

    private static String lineOf(JacksonException e) {
        return e.getLocation() == null || e.getLocation().getLineNr() < 1 ? "" : " at line " + e.getLocation().getLineNr();
    }

    static ObjectNode newTable() {
        return MAPPER.createObjectNode();
    }

    /**
     * The tree as TOML: in each table its plain keys first, then its sub-tables, each in the tree's order.
     * {@code alwaysHeaded} names the tables (by dotted path of their parent) whose children get a header
     * of their own even when they hold only sub-tables, so containerd sees {@code [host."..."]} for each.
     */
    static byte[] render(ObjectNode root, String header, String alwaysHeaded) {
        StringBuilder out = new StringBuilder(header);
        writeKeys(out, root);
        writeTables(out, root, List.of(), alwaysHeaded);
        return out.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static void writeKeys(StringBuilder out, ObjectNode table) {
        for (Map.Entry<String, JsonNode> e : table.properties()) {
            if (!e.getValue().isObject()) {
                out.append(key(e.getKey())).append(" = ");
                value(out, e.getValue());
                out.append('\n');
            }
        }
    }

    private static void writeTables(StringBuilder out, ObjectNode table, List<String> path, String alwaysHeaded) {
        for (Map.Entry<String, JsonNode> e : table.properties()) {
            if (!e.getValue().isObject()) {
                continue;
            }
            ObjectNode sub = (ObjectNode) e.getValue();
            List<String> subPath = new ArrayList<>(path);
            subPath.add(e.getKey());
            boolean hasKeys = sub.isEmpty();
            for (JsonNode v : sub) {
                hasKeys |= !v.isObject();
            }
            if (hasKeys || String.join(".", path).equals(alwaysHeaded)) {
                out.append('\n').append('[');
                for (int i = 0; i < subPath.size(); i++) {
                    out.append(i == 0 ? "" : ".").append(key(subPath.get(i)));
                }
                out.append("]\n");
                writeKeys(out, sub);
            }
            writeTables(out, sub, subPath, alwaysHeaded);
        }
    }

    private static String key(String k) {
        return BARE_KEY.matcher(k).matches() ? k : quoted(k);
    }

    private static void value(StringBuilder out, JsonNode v) {
        if (v.isTextual()) {
            out.append(quoted(v.textValue()));
        } else if (v.isBoolean() || v.isIntegralNumber()) {
            out.append(v.asText());
        } else if (v.isNumber()) {
            double d = v.doubleValue();
            out.append(Double.isNaN(d) ? "nan" : Double.isInfinite(d) ? (d > 0 ? "inf" : "-inf") : Double.toString(d));
        } else if (v.isArray()) {
            out.append('[');
            for (int i = 0; i < v.size(); i++) {
                out.append(i == 0 ? "" : ", ");
                value(out, v.get(i));
            }
            out.append(']');
        } else if (v.isObject()) {
            // A table inside an array: only inline form can say it.
            out.append('{');
            boolean first = true;
            for (Map.Entry<String, JsonNode> e : v.properties()) {
                out.append(first ? " " : ", ").append(key(e.getKey())).append(" = ");
                value(out, e.getValue());
                first = false;
            }
            out.append(first ? "}" : " }");
        } else {
            throw new IllegalArgumentException("no TOML form for " + v.getNodeType());
        }
    }

    private static String quoted(String s) {
        StringBuilder q = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> q.append("\\\"");
                case '\\' -> q.append("\\\\");
                case '\n' -> q.append("\\n");
                case '\t' -> q.append("\\t");
                case '\r' -> q.append("\\r");
                default -> {
                    if (c < 0x20 || c == 0x7f) {
                        q.append(String.format("\\u%04x", (int) c));
                    } else {
                        q.append(c);
                    }
                }
            }
        }
        return q.append('"').toString();
    }
}
