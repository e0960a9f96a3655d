package dev.pollen.agent.config;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;

/** Reads CA certificates from PEM files named in the configuration; a file that yields none is a config error. */
public final class CaCertificates {
    private CaCertificates() {
    }

    /** Every certificate of every file, in order. */
    public static List<X509Certificate> readAll(String key, List<Path> files) {
        List<X509Certificate> all = new ArrayList<>();
        for (Path file : files) {
            all.addAll(read(key, file));
        }
        return all;
    }

    static List<X509Certificate> read(String key, Path file) {
        if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
            throw ConfigException.invalid(key, file, "readable PEM files of CA certificates");
        }
        List<X509Certificate> certs = new ArrayList<>();
        try (InputStream in = Files.newInputStream(file)) {
            for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                if (c instanceof X509Certificate x509) {
                    certs.add(x509);
                }
            }
        } catch (IOException | CertificateException e) {
            throw ConfigException.invalid(key, file + " is not a PEM certificate file: " + e.getMessage(),
                    "PEM files of CA certificates (-----BEGIN CERTIFICATE-----)");
        }
        if (certs.isEmpty()) {
            throw ConfigException.invalid(key, file + " holds no certificate", "PEM files of CA certificates (-----BEGIN CERTIFICATE-----)");
        }
        return certs;
    }
}
