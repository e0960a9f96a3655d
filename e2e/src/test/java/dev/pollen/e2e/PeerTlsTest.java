package dev.pollen.e2e;

import static dev.pollen.e2e.TestFiles.MiB;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pollen.e2e.TestFiles.TestFile;
import dev.pollen.tls.TestCertificates;
import dev.pollen.tls.TlsFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mutual TLS between real dfdaemons ({@code upload.server.*}, {@code upload.client.*}) under Pollen's scheduler: peers
 * with certificates of the cluster's CA share a file over TLS (gRPC and Vortex); a node whose certificate another CA
 * signed gets nothing from them and goes to the origin, and each node logs its refusal once; a certificate rotated on
 * disk is taken without a restart.
 */
class PeerTlsTest {
    @RegisterExtension
    static final Nginx origin = new Nginx();

    @RegisterExtension
    final Daemons daemons = new Daemons();

    @TempDir
    Path out;

    @TempDir
    Path work;

    @Test
    void peersOfOneCaShareOverTlsAndAStrangerGetsNothingFromThem() throws Exception {
        TestCertificates.Ca ca = TestCertificates.ca(work.resolve("ca"), "pollen-ca");
        TestCertificates.Ca other = TestCertificates.ca(work.resolve("other"), "other-ca");
        TestFile file = origin.createFile("tls.bin", 24 * MiB, 31);
        String url = origin.url("/tls.bin");
        try (SchedulerProcess scheduler = SchedulerProcess.start(work.resolve("scheduler"), List.of(), "--port=0", "--listen=127.0.0.1")) {
            String address = "127.0.0.1:" + scheduler.port();
            DaemonProcess first = MixedCluster.startAgent(daemons, "127.0.0.2", address, TlsFlags.peers(ca.issue(work.resolve("a"), "node-a")));
            DaemonProcess second = MixedCluster.startAgent(daemons, "127.0.0.3", address, TlsFlags.peers(ca.issue(work.resolve("b"), "node-b")));
            // It trusts the cluster's CA, but another CA signed its own certificate: the nodes are the ones to refuse it.
            TlsFiles strangers = other.issue(work.resolve("s"), "stranger");
            DaemonProcess stranger = MixedCluster.startAgent(daemons, "127.0.0.4", address,
                    TlsFlags.peers(new TlsFiles(ca.pem(), strangers.cert(), strangers.key())));
            assertThat(first.logLines("event=peer_tls mode=mutual")).hasSize(1);

            Dfget.Result a = first.dfget().download(url, out.resolve("a.bin"));
            assertThat(a.exitCode()).as(a.toString()).isZero();
            Dfget.Result b = second.dfget().download(url, out.resolve("b.bin"));
            assertThat(b.exitCode()).as(b.toString()).isZero();
            assertThat(TestFiles.sha256(out.resolve("b.bin"))).isEqualTo(file.sha256());
            assertThat(b.summary().peers()).as("pieces the second node took from the first, over TLS: " + b).isEqualTo(b.summary().total());

            Dfget.Result s = stranger.dfget().download(url, out.resolve("s.bin"));
            assertThat(s.exitCode()).as(s.toString()).isZero();
            assertThat(TestFiles.sha256(out.resolve("s.bin"))).isEqualTo(file.sha256());
            assertThat(s.summary().peers()).as("pieces a stranger got from the cluster's nodes: " + s).isZero();
            List<String> refusals = List.of(first, second).stream().flatMap(d -> d.logLines("event=tls_refused").stream()).toList();
            assertThat(refusals).as("the nodes' refusals of the stranger").isNotEmpty()
                    .allSatisfy(l -> assertThat(l).contains("other-ca").contains("side=server"));
            assertThat(refusals.stream().distinct().count()).as("each refusal once: " + refusals).isEqualTo(refusals.size());
            assertThat(refusals).as("one line per node, whatever the stranger retried").hasSize(2);
        }
    }

    @Test
    void theSchedulerSpeaksMutualTlsBothWaysAndTriggersItsSeedOverIt() throws Exception {
        TestCertificates.Ca ca = TestCertificates.ca(work.resolve("ca"), "pollen-ca");
        TestFile file = origin.createFile("seeded.bin", 16 * MiB, 33);
        String url = origin.url("/seeded.bin");
        TlsFiles schedulerFiles = ca.issue(work.resolve("sched"), "scheduler");
        try (SchedulerProcess scheduler = SchedulerProcess.start(work.resolve("scheduler"), List.of(), "--port=0", "--listen=127.0.0.1",
                "--tls-ca-cert=" + schedulerFiles.caCert(), "--tls-cert=" + schedulerFiles.cert(), "--tls-key=" + schedulerFiles.key())) {
            String address = "127.0.0.1:" + scheduler.port();
            // The scheduler asks the seed to fetch the task (DownloadTask on its upload port): that call is over TLS too.
            DaemonProcess seedPeer = MixedCluster.startAgent(daemons, "127.0.0.7", address, TlsFlags.withScheduler(ca.issue(work.resolve("seed"),
                    "seed"), "--seedPeer.enable=true"));
            DaemonProcess agent = MixedCluster.startAgent(daemons, "127.0.0.8", address, TlsFlags.withScheduler(ca.issue(work.resolve("agent"),
                    "agent")));

            Dfget.Result r = agent.dfget().download(url, out.resolve("seeded.bin"));
            assertThat(r.exitCode()).as(r.toString()).isZero();
            assertThat(TestFiles.sha256(out.resolve("seeded.bin"))).isEqualTo(file.sha256());
            assertThat(r.summary().peers()).as("pieces from the seed the scheduler triggered: " + r).isEqualTo(r.summary().total());
            assertThat(seedPeer.logLines("event=download_started")).as("the seed's download, asked for by the scheduler").isNotEmpty();
            assertThat(scheduler.logLines("event=tls_refused")).isEmpty();
        }
    }

    @Test
    void aCertificateRotatedOnDiskIsTakenWithoutARestart() throws Exception {
        TestCertificates.Ca old = TestCertificates.ca(work.resolve("old"), "old-ca");
        TestCertificates.Ca rotated = TestCertificates.ca(work.resolve("new"), "new-ca");
        TestFile file = origin.createFile("rotate.bin", 8 * MiB, 32);
        String url = origin.url("/rotate.bin");
        try (SchedulerProcess scheduler = SchedulerProcess.start(work.resolve("scheduler"), List.of(), "--port=0", "--listen=127.0.0.1")) {
            String address = "127.0.0.1:" + scheduler.port();
            TlsFiles parentFiles = old.issue(work.resolve("p"), "parent");
            DaemonProcess parent = MixedCluster.startAgent(daemons, "127.0.0.5", address, TlsFlags.peers(parentFiles));
            DaemonProcess child = MixedCluster.startAgent(daemons, "127.0.0.6", address, TlsFlags.peers(rotated.issue(work.resolve("c"), "child")));
            assertThat(parent.dfget().download(url, out.resolve("p.bin")).exitCode()).isZero();

            // The operator rotates the parent's CA, certificate and key in place, as a Secret update does.
            TlsFiles next = rotated.issue(work.resolve("next"), "parent");
            Files.copy(next.caCert(), parentFiles.caCert(), StandardCopyOption.REPLACE_EXISTING);
            Files.copy(next.cert(), parentFiles.cert(), StandardCopyOption.REPLACE_EXISTING);
            Files.copy(next.key(), parentFiles.key(), StandardCopyOption.REPLACE_EXISTING);
            await().atMost(Duration.ofSeconds(20)).until(() -> parent.logLines("event=tls_reloaded what=upload.server").size() == 1);

            Dfget.Result c = child.dfget().download(url, out.resolve("c.bin"));
            assertThat(c.exitCode()).as(c.toString()).isZero();
            assertThat(TestFiles.sha256(out.resolve("c.bin"))).isEqualTo(file.sha256());
            assertThat(c.summary().peers()).as("pieces from the parent under its new certificate: " + c).isEqualTo(c.summary().total());
        }
    }
}
