package dev.pollen.tls;

import java.nio.file.Path;
import java.util.Objects;

/**
 * The PEM files of one side of mutual TLS: the CA that signs every Pollen node's certificate, this node's certificate
 * (chain) and its private key (PKCS#8). Dragonfly's {@code caCert}, {@code cert} and {@code key}.
 */
public record TlsFiles(Path caCert, Path cert, Path key) {
    public TlsFiles {
        Objects.requireNonNull(caCert, "caCert");
        Objects.requireNonNull(cert, "cert");
        Objects.requireNonNull(key, "key");
    }
}
