package dev.pollen.agent.config;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Builds the effective configuration in layers: the embedded default, then the YAML file, then
 * {@code DFDAEMON_*} environment variables, then {@code --key.path=value} flags. Every layer may only
 * name keys the default knows, so a typo is an error that names it instead of a silently ignored key.
 */
public final class ConfigLoader {
    public static final String ENV_PREFIX = "DFDAEMON_";
    private static final String DEFAULT_RESOURCE = "/dfdaemon-default.yaml";

    private final ObjectMapper yaml;

    public ConfigLoader() {
        SimpleModule units = new SimpleModule()
                .addDeserializer(Duration.class, new ScalarDeserializer<>(Durations::parse, "a duration such as 30s"))
                .addDeserializer(ByteSize.class, new ScalarDeserializer<>(ByteSize::parse, "a size such as 10GiB"))
                .addDeserializer(BitRate.class, new ScalarDeserializer<>(BitRate::parse,
                        "bits per second such as 400mbit or 10gbit"))
                .addDeserializer(Cidr.class, new ScalarDeserializer<>(Cidr::parse,
                        "an IP address or CIDR block such as 10.0.0.0/8 or fd00:ec2::254"))
                .addDeserializer(FreeSpaceFloor.class, new ScalarDeserializer<>(FreeSpaceFloor::parse,
                        "a share of the disk such as 5% or a size such as 10GiB"));
        yaml = new ObjectMapper(new YAMLFactory())
                .registerModule(units)
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);
    }

    /** Configuration keys given as flags, {@code --a.b=value} or {@code --a.b value}, for {@link #load}'s overrides. */
    public static Map<String, String> flags(List<String> args) {
        Map<String, String> out = new LinkedHashMap<>();
        for (int i = 0; i < args.size(); i++) {
            String arg = args.get(i);
            if (!arg.startsWith("--")) {
                throw new ConfigException("unexpected argument " + arg + " (expected: --<key>=<value>)");
            }
            String body = arg.substring(2);
            int eq = body.indexOf('=');
            if (eq >= 0) {
                out.put(body.substring(0, eq), body.substring(eq + 1));
            } else if (i + 1 < args.size()) {
                out.put(body, args.get(++i));
            } else {
                throw new ConfigException("flag " + arg + " needs a value (expected: " + arg + "=<value>)");
            }
        }
        return out;
    }

    /**
     * @param file a YAML file, or null for the embedded default alone
     * @param env the process environment
     * @param overrides flag overrides as dotted key to value
     */
    public DaemonConfig load(Path file, Map<String, String> env, Map<String, String> overrides) {
        ObjectNode tree = defaults();
        Map<String, String> knownKeys = leafKeys(tree);
        if (file != null) {
            merge(tree, readFile(file), "", file.toString(), knownKeys);
        }
        for (Map.Entry<String, String> e : new TreeMap<>(env).entrySet()) {
            if (e.getKey().startsWith(ENV_PREFIX)) {
                String wanted = e.getKey().substring(ENV_PREFIX.length()).toUpperCase(Locale.ROOT);
                String key = knownKeys.entrySet().stream()
                        .filter(k -> k.getKey().replace('.', '_').toUpperCase(Locale.ROOT).equals(wanted))
                        .map(Map.Entry::getValue).findFirst()
                        .orElseThrow(() -> new ConfigException("environment variable " + e.getKey()
                                + " names no configuration key (expected: " + ENV_PREFIX + "<KEY_PATH>, e.g. "
                                + ENV_PREFIX + "DOWNLOAD_CONCURRENTPIECECOUNT)"));
                set(tree, key, e.getValue());
            }
        }
        for (Map.Entry<String, String> e : overrides.entrySet()) {
            String key = knownKeys.get(e.getKey().toLowerCase(Locale.ROOT));
            if (key == null) {
                throw new ConfigException("unknown flag --" + e.getKey() + " (expected one of: --"
                        + String.join(", --", knownKeys.values()) + ")");
            }
            set(tree, key, e.getValue());
        }
        return bind(tree);
    }

    /** The embedded default's keys, dotted, in file order; for help texts and error messages. */
    public List<String> keys() {
        return new ArrayList<>(leafKeys(defaults()).values());
    }

    private DaemonConfig bind(ObjectNode tree) {
        try {
            return yaml.treeToValue(tree, DaemonConfig.class);
        } catch (ValueInstantiationException e) {
            if (e.getCause() instanceof ConfigException ce) {
                throw ce;
            }
            throw new ConfigException(path(e) + ": " + e.getOriginalMessage());
        } catch (JsonMappingException e) {
            if (e.getCause() instanceof ConfigException ce) {
                throw ce;
            }
            throw new ConfigException(path(e) + ": " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String path(JsonMappingException e) {
        StringBuilder sb = new StringBuilder();
        for (JsonMappingException.Reference ref : e.getPath()) {
            if (ref.getFieldName() != null) {
                sb.append(sb.isEmpty() ? "" : ".").append(ref.getFieldName());
            }
        }
        return sb.toString();
    }

    private ObjectNode defaults() {
        try (InputStream in = ConfigLoader.class.getResourceAsStream(DEFAULT_RESOURCE)) {
            return (ObjectNode) yaml.readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException("embedded default configuration unreadable", e);
        }
    }

    private JsonNode readFile(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new ConfigException("config file " + file + " does not exist or is not a file (fix: --config PATH)");
        }
        try {
            JsonNode node = yaml.readTree(file.toFile());
            if (node == null || node.isMissingNode() || node.isNull()) {
                return yaml.createObjectNode();
            }
            if (!node.isObject()) {
                throw new ConfigException("config file " + file + ": expected a YAML mapping at the top level");
            }
            return node;
        } catch (IOException e) {
            throw new ConfigException("config file " + file + " is not valid YAML: " + e.getMessage());
        }
    }

    /** Case-insensitive dotted key to its canonical spelling, for every leaf of the default tree. */
    private static Map<String, String> leafKeys(JsonNode tree) {
        Map<String, String> keys = new java.util.LinkedHashMap<>();
        collect(tree, "", keys);
        return keys;
    }

    private static void collect(JsonNode node, String prefix, Map<String, String> keys) {
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey();
            if (e.getValue().isObject()) {
                collect(e.getValue(), key, keys);
            } else {
                keys.put(key.toLowerCase(Locale.ROOT), key);
            }
        }
    }

    private static void merge(ObjectNode target, JsonNode source, String prefix, String origin, Map<String, String> knownKeys) {
        for (Iterator<Map.Entry<String, JsonNode>> it = source.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey();
            JsonNode existing = target.get(e.getKey());
            if (existing == null) {
                throw new ConfigException(origin + ": unknown key " + key + " (expected one of: "
                        + String.join(", ", knownKeys.values()) + ")");
            }
            if (existing.isObject()) {
                if (!e.getValue().isObject()) {
                    throw new ConfigException(origin + ": " + key + " must be a mapping");
                }
                merge((ObjectNode) existing, e.getValue(), key, origin, knownKeys);
            } else {
                target.set(e.getKey(), e.getValue());
            }
        }
    }

    /** Sets a leaf from a flag or variable; list keys take comma-separated values. */
    private static void set(ObjectNode tree, String dottedKey, String value) {
        String[] parts = dottedKey.split("\\.");
        ObjectNode node = tree;
        for (int i = 0; i < parts.length - 1; i++) {
            node = (ObjectNode) node.get(parts[i]);
        }
        String leaf = parts[parts.length - 1];
        if (node.get(leaf).isArray()) {
            com.fasterxml.jackson.databind.node.ArrayNode list = node.putArray(leaf);
            for (String item : value.split(",")) {
                if (!item.isBlank()) {
                    list.add(item.trim());
                }
            }
        } else {
            node.set(leaf, TextNode.valueOf(value));
        }
    }

    private static final class ScalarDeserializer<T> extends JsonDeserializer<T> {
        private final java.util.function.Function<String, T> parser;
        private final String expected;

        ScalarDeserializer(java.util.function.Function<String, T> parser, String expected) {
            this.parser = parser;
            this.expected = expected;
        }

        @Override
        public T deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
            String text = p.getValueAsString();
            try {
                return parser.apply(text);
            } catch (RuntimeException e) {
                throw JsonMappingException.from(p, text + " (expected: " + expected + ")");
            }
        }
    }
}
