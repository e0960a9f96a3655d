package dev.pollen.agent.setup;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What in containerd's own config decides whether its CRI plugin (the one the kubelet pulls through) reads
 * the hosts.toml files at all. Each finding is one line naming the file and the fix. Read from containerd's
 * {@code internal/cri/config} and {@code plugins/cri/images}: config_path is read only when set (containerd
 * 2.2 and later default it to certs.d, older ones read no certs.d); {@code registry.mirrors} or
 * {@code registry.configs.*.tls} together with config_path stop the CRI plugin from loading.
 */
final class ContainerdPrerequisites {
    /** {@code problem}: the mirror will not be used (the command fails); else a warning. */
    record Finding(boolean problem, String message) {
    }

    /** Where a config version keeps the CRI plugin's settings. */
    private record Layout(String criTable, String registryTable, List<String> registry, List<String> discard) {
        static Layout of(int version) {
            return switch (version) {
                case 3 -> new Layout("[plugins.\"io.containerd.cri.v1.images\"]",
                        "[plugins.\"io.containerd.cri.v1.images\".registry]",
                        List.of("plugins", "io.containerd.cri.v1.images", "registry"),
                        List.of("plugins", "io.containerd.cri.v1.images", "discard_unpacked_layers"));
                case 2 -> new Layout("[plugins.\"io.containerd.grpc.v1.cri\".containerd]",
                        "[plugins.\"io.containerd.grpc.v1.cri\".registry]",
                        List.of("plugins", "io.containerd.grpc.v1.cri", "registry"),
                        List.of("plugins", "io.containerd.grpc.v1.cri", "containerd", "discard_unpacked_layers"));
                default -> new Layout("[plugins.cri.containerd]", "[plugins.cri.registry]",
                        List.of("plugins", "cri", "registry"), List.of("plugins", "cri", "containerd", "discard_unpacked_layers"));
            };
        }
    }

    private record Source(Path file, ObjectNode tree, Layout layout) {
    }

    private ContainerdPrerequisites() {
    }

    static List<Finding> check(Path config, Path certsDir) {
        List<Finding> findings = new ArrayList<>();
        String wanted = "config_path = \"" + certsDir + "\"";
        if (!Files.exists(config)) {
            findings.add(new Finding(true, config + " does not exist, so containerd runs on its defaults and (before 2.2)"
                    + " its CRI plugin reads no hosts.toml (fix: create it with the lines: version = 2, "
                    + Layout.of(2).registryTable() + ", " + wanted + "; then restart containerd once;"
                    + " or pass --containerd-config FILE if it lives elsewhere)"));
            return findings;
        }
        List<Source> sources = sources(config);
        Layout main = sources.getFirst().layout();
        List<String> paths = new ArrayList<>();
        Path pathFile = config;
        for (Source s : sources) {
            JsonNode registry = at(s.tree(), s.layout().registry());
            JsonNode configPath = registry.path("config_path");
            if (configPath.isTextual() && !configPath.textValue().isEmpty()) {
                paths.add(configPath.textValue());
                pathFile = s.file();
            }
            if (registry.path("mirrors").isObject() && !registry.path("mirrors").isEmpty()) {
                findings.add(new Finding(true, s.file() + " sets " + s.layout().registryTable().replace("]", ".mirrors]")
                        + ", which containerd refuses together with config_path: its CRI plugin then does not load"
                        + " (fix: remove the mirrors tables; the hosts.toml files replace them)"));
            }
            for (Map.Entry<String, JsonNode> c : registry.path("configs").properties()) {
                if (c.getValue().has("tls")) {
                    findings.add(new Finding(true, s.file() + " sets " + s.layout().registryTable().replace("]", ".configs.\"" + c.getKey() + "\".tls]")
                            + ", which containerd refuses together with config_path: its CRI plugin then does not load"
                            + " (fix: move its CA and client certificates into " + certsDir.resolve(c.getKey()).resolve(HostsDirectory.FILE)
                            + " as ca, client, skip_verify, and remove the tls table)"));
                }
            }
            if (at(s.tree(), s.layout().discard()).asBoolean(false)) {
                findings.add(new Finding(false, s.file() + " sets discard_unpacked_layers = true in " + s.layout().criTable()
                        + ": containerd deletes each layer from its content store once unpacked, so this node keeps no"
                        + " containerd copy of its layers: every later use of one (another snapshotter, an export,"
                        + " a push, a check) fetches it again through the mirror, and once Pollen's GC has dropped it,"
                        + " from the registry (fix, if nodes should keep their layers: set it to false)"));
            }
        }
        if (paths.isEmpty()) {
            findings.addFirst(new Finding(true, config + " does not set config_path, so containerd's CRI plugin ignores "
                    + certsDir + " (fix: add the line " + wanted + " under " + main.registryTable()
                    + ", then restart containerd once)"));
        } else if (paths.stream().noneMatch(p -> names(p, certsDir))) {
            String first = paths.getLast().split(":")[0];
            findings.addFirst(new Finding(true, pathFile + " sets config_path = \"" + paths.getLast() + "\", which does not include "
                    + certsDir + " (fix: run this with --certs-dir " + first + ", or change that line to " + wanted
                    + " and restart containerd once)"));
        }
        return findings;
    }

    /** containerd's file, then the files its {@code imports} name (a {@code *} in the file name matches as a glob). */
    private static List<Source> sources(Path config) {
        ObjectNode tree = TomlText.parse(config, readAll(config));
        Layout layout = Layout.of(tree.path("version").asInt(1));
        List<Source> out = new ArrayList<>(List.of(new Source(config, tree, layout)));
        for (JsonNode imp : tree.path("imports")) {
            Path pattern = config.resolveSibling(imp.asText());
            for (Path file : expand(pattern)) {
                ObjectNode imported = TomlText.parse(file, readAll(file));
                out.add(new Source(file, imported, imported.has("version") ? Layout.of(imported.path("version").asInt()) : layout));
            }
        }
        return out;
    }

    private static List<Path> expand(Path pattern) {
        String name = pattern.getFileName().toString();
        if (!name.contains("*")) {
            return Files.exists(pattern) ? List.of(pattern) : List.of();
        }
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(pattern.getParent(), name)) {
            files.forEach(out::add);
        } catch (NoSuchFileException e) {
            return List.of();
        } catch (IOException e) {
            throw new SetupException("cannot read " + pattern.getParent() + ": " + e.getMessage());
        }
        out.sort(null);
        return out;
    }

    private static boolean names(String configPath, Path certsDir) {
        for (String p : configPath.split(":")) {
            if (!p.isEmpty() && Path.of(p).normalize().equals(certsDir.normalize())) {
                return true;
            }
        }
        return false;
    }

    private static JsonNode at(JsonNode tree, List<String> path) {
        JsonNode n = tree;
        for (String k : path) {
            n = n.path(k);
        }
        return n;
    }

    private static byte[] readAll(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new SetupException("cannot read " + file + ": " + e.getMessage()
                    + " (fix: run as root, or pass --containerd-config FILE)");
        }
    }
}
