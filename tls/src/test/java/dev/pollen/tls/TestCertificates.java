package dev.pollen.tls;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.concurrent.atomic.AtomicLong;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * Certificates made by a test: a CA, node certificates it signs (valid, or expired), written as the PEM files a node
 * is configured with. Nothing here is for production: keys are small-ish EC keys made on the spot.
 */
public final class TestCertificates {
    private static final AtomicLong SERIAL = new AtomicLong(System.nanoTime());

    /** A certificate authority: its key, and its certificate in {@code dir/ca.pem}. */
    public record Ca(String name, KeyPair keys, X509Certificate certificate, Path pem) {
        /** A node certificate and key this CA signs, valid for a day from an hour ago, under {@code dir/<name>-*.pem}. */
        public TlsFiles issue(Path dir, String node) {
            return issue(dir, node, Instant.now().minus(Duration.ofHours(1)), Instant.now().plus(Duration.ofDays(1)));
        }

        /** One that expired a minute ago. */
        public TlsFiles issueExpired(Path dir, String node) {
            return issue(dir, node, Instant.now().minus(Duration.ofDays(2)), Instant.now().minus(Duration.ofMinutes(1)));
        }

        public TlsFiles issue(Path dir, String node, Instant from, Instant until) {
            try {
                KeyPair pair = keyPair();
                X509Certificate cert = sign(new X500Name("CN=" + node), pair, new X500Name("CN=" + name), keys, from, until, false);
                Path certFile = dir.resolve(node + "-cert.pem");
                Path keyFile = dir.resolve(node + "-key.pem");
                Files.createDirectories(dir);
                Files.writeString(certFile, TestCertificates.pem(cert));
                Files.writeString(keyFile, TestCertificates.pem(new JcaPKCS8Generator(pair.getPrivate(), null)));
                return new TlsFiles(pem, certFile, keyFile);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } catch (GeneralSecurityException | org.bouncycastle.operator.OperatorCreationException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    private TestCertificates() {
    }

    /** A new CA named {@code name}, its certificate written to {@code dir/<name>.pem}. */
    public static Ca ca(Path dir, String name) {
        try {
            KeyPair pair = keyPair();
            Instant now = Instant.now();
            X500Name subject = new X500Name("CN=" + name);
            X509Certificate cert = sign(subject, pair, subject, pair, now.minus(Duration.ofHours(1)), now.plus(Duration.ofDays(30)), true);
            Files.createDirectories(dir);
            Path file = dir.resolve(name + ".pem");
            Files.writeString(file, pem(cert));
            return new Ca(name, pair, cert, file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (GeneralSecurityException | org.bouncycastle.operator.OperatorCreationException e) {
            throw new IllegalStateException(e);
        }
    }

    private static KeyPair keyPair() throws GeneralSecurityException {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(256);
        return g.generateKeyPair();
    }

    private static X509Certificate sign(X500Name subject, KeyPair subjectKeys, X500Name issuer, KeyPair issuerKeys, Instant from,
                                        Instant until, boolean ca)
            throws GeneralSecurityException, org.bouncycastle.operator.OperatorCreationException, IOException {
        JcaX509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(issuer, BigInteger.valueOf(SERIAL.incrementAndGet()),
                Date.from(from), Date.from(until), subject, subjectKeys.getPublic());
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(ca));
        b.addExtension(Extension.keyUsage, true, ca ? new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign)
                : new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
        return new JcaX509CertificateConverter().getCertificate(b.build(new JcaContentSignerBuilder("SHA256withECDSA")
                .build(issuerKeys.getPrivate())));
    }

    private static String pem(Object o) throws IOException {
        StringWriter s = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(s)) {
            w.writeObject(o);
        }
        return s.toString();
    }
}
