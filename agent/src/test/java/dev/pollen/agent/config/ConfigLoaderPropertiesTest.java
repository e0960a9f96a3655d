package dev.pollen.agent.config;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Whatever a file, the environment or a flag says, loading gives a valid configuration or a
 * {@link ConfigException} that names the offending key; never another exception.
 */
class ConfigLoaderPropertiesTest {
    private static final ConfigLoader LOADER = new ConfigLoader();
    private static final List<String> KEYS = LOADER.keys();
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static Path dir;

    @BeforeContainer
    static void createDir() throws IOException {
        dir = Files.createTempDirectory("pollen-config-properties");
    }

    @AfterContainer
    static void deleteDir() throws IOException {
        try (var files = Files.list(dir)) {
            for (Path p : files.toList()) {
                Files.delete(p);
            }
        }
        Files.delete(dir);
    }

    /** A flag names a key and a value: --key=value. */
    @Property
    void anyFlagValueGivesAConfigOrAnErrorNamingTheKey(@ForAll("entries") List<Tuple.Tuple2<String, String>> flags) {
        Map<String, String> overrides = new LinkedHashMap<>();
        flags.forEach(f -> overrides.put(f.get1(), f.get2()));
        assertConfigOrNamedError(() -> LOADER.load(null, Map.of(), overrides), overrides.keySet());
    }

    @Property
    void anyEnvironmentGivesAConfigOrAnErrorNamingTheVariable(@ForAll("entries") List<Tuple.Tuple2<String, String>> vars) {
        Map<String, String> env = new LinkedHashMap<>();
        List<String> names = new ArrayList<>();
        for (var v : vars) {
            String name = ConfigLoader.ENV_PREFIX + v.get1().replace('.', '_').toUpperCase(java.util.Locale.ROOT);
            env.put(name, v.get2());
            names.add(name);
            names.add(v.get1());
        }
        assertConfigOrNamedError(() -> LOADER.load(null, env, Map.of()), names);
    }

    @Property
    void anyYamlTreeGivesAConfigOrAnErrorNamingAKey(@ForAll("trees") Map<String, Object> tree) throws IOException {
        Path file = Files.createTempFile(dir, "tree", ".yaml");
        YAML.writeValue(file.toFile(), tree);
        List<String> keys = new ArrayList<>();
        collectKeys(tree, "", keys);
        assertConfigOrNamedError(() -> LOADER.load(file, Map.of(), Map.of()), keys);
        Files.delete(file);
    }

    /** Text that may not even be YAML: the error names the file (there is no key to name). */
    @Property
    void anyFileTextGivesAConfigOrAnErrorNamingTheFile(@ForAll("texts") String text) throws IOException {
        Path file = Files.createTempFile(dir, "text", ".yaml");
        Files.writeString(file, text, StandardCharsets.UTF_8);
        List<String> names = new ArrayList<>(KEYS);
        names.add(file.toString());
        assertConfigOrNamedError(() -> LOADER.load(file, Map.of(), Map.of()), names);
        Files.delete(file);
    }

    private static void assertConfigOrNamedError(java.util.function.Supplier<DaemonConfig> load, java.util.Collection<String> names) {
        try {
            assertThat(load.get()).isNotNull();
        } catch (ConfigException e) {
            assertThat(e.getMessage()).as("names one of %s", names)
                    .satisfies(m -> assertThat(names.stream().anyMatch(n -> containsIgnoringCase(m, n))).isTrue());
        } catch (UncheckedIOException e) {
            throw new AssertionError("the temp file vanished?", e);
        }
    }

    private static boolean containsIgnoringCase(String message, String name) {
        return message.toLowerCase(java.util.Locale.ROOT).contains(name.toLowerCase(java.util.Locale.ROOT));
    }

    @SuppressWarnings("unchecked")
    private static void collectKeys(Map<String, Object> tree, String prefix, List<String> keys) {
        for (var e : tree.entrySet()) {
            String key = prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey();
            keys.add(key);
            if (e.getValue() instanceof Map<?, ?> m) {
                collectKeys((Map<String, Object>) m, key, keys);
            }
        }
    }

    @Provide
    Arbitrary<List<Tuple.Tuple2<String, String>>> entries() {
        return Combinators.combine(keys(), stringValues()).as(Tuple::of).list().ofMaxSize(4);
    }

    /** Mostly real keys (in any case), sometimes a near miss or noise. */
    private static Arbitrary<String> keys() {
        Arbitrary<String> known = Arbitraries.of(KEYS);
        return Arbitraries.frequencyOf(
                Tuple.of(6, known),
                Tuple.of(1, known.map(k -> k.toUpperCase(java.util.Locale.ROOT))),
                Tuple.of(1, known.map(k -> k + "x")),
                Tuple.of(1, Arbitraries.strings().alpha().ofMinLength(1).ofMaxLength(12)));
    }

    /** Values shaped like what the keys take (numbers, sizes, durations, modes, lists) and like nothing at all. */
    private static Arbitrary<String> stringValues() {
        return Arbitraries.oneOf(
                Arbitraries.integers().map(String::valueOf),
                Arbitraries.longs().map(String::valueOf),
                Arbitraries.of("", " ", "0", "-1", "true", "null", "~", "0660", "0777", "1e400", "NaN", "9223372036854775808",
                        "1s", "0s", "-5s", "1h30m", "999999999999h", "10GiB", "0B", "1.5MiB", "-1KiB", "99999999999999TiB",
                        "host:1", "host:0", "host:99999", ":80", "[::1]:4000", "a,b,,c", "/tmp/x", "relative", "\u0000", "a\u0000b"),
                Arbitraries.strings().ofMaxLength(20));
    }

    @Provide
    Arbitrary<Map<String, Object>> trees() {
        return Combinators.combine(keys(), yamlValues()).as(Tuple::of).list().ofMaxSize(6).map(ConfigLoaderPropertiesTest::nest);
    }

    private static Arbitrary<Object> yamlValues() {
        Arbitrary<Object> scalar = Arbitraries.oneOf(
                stringValues().map(s -> (Object) s),
                Arbitraries.integers().map(i -> (Object) i),
                Arbitraries.longs().map(l -> (Object) l),
                Arbitraries.doubles().map(d -> (Object) d),
                Arbitraries.of(true, false).map(b -> (Object) b),
                Arbitraries.just(null));
        return Arbitraries.oneOf(scalar,
                scalar.list().ofMaxSize(3).map(l -> (Object) l),
                Combinators.combine(Arbitraries.strings().alpha().ofMinLength(1).ofMaxLength(6), scalar)
                        .as((k, v) -> (Object) new LinkedHashMap<>(java.util.Collections.singletonMap(k, v))));
    }

    /** Dotted keys to a nested map; a key that collides with another's mapping is dropped. */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> nest(List<Tuple.Tuple2<String, Object>> entries) {
        Map<String, Object> root = new LinkedHashMap<>();
        for (var e : entries) {
            String[] parts = e.get1().split("\\.");
            Map<String, Object> node = root;
            boolean collides = false;
            for (int i = 0; i < parts.length - 1 && !collides; i++) {
                Object child = node.computeIfAbsent(parts[i], k -> new LinkedHashMap<String, Object>());
                if (child instanceof Map<?, ?> m) {
                    node = (Map<String, Object>) m;
                } else {
                    collides = true;
                }
            }
            if (!collides && !(node.get(parts[parts.length - 1]) instanceof Map)) {
                node.put(parts[parts.length - 1], e.get2());
            }
        }
        return root;
    }

    @Provide
    Arbitrary<String> texts() {
        return Arbitraries.oneOf(
                Arbitraries.strings().ofMaxLength(200),
                Arbitraries.of("", "---", "- a\n- b\n", "42", "download: 3\n", "download:\n  server: [1]\n", "a: &x [*x]\n",
                        "download:\n  concurrentPieceCount: !!binary AAAA\n", "? [a]\n: b\n", "download: {server: {socketMode: 0x1ff}}\n",
                        "\t", "key: \"unterminated\n", "%YAML 9.9\n---\na: 1\n"),
                trees().map(t -> {
                    try {
                        return YAML.writeValueAsString(t);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }).map(s -> s.replace(":", ": :")));
    }
}
