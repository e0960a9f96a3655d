package dev.pollen.agent.origin;

import dev.pollen.agent.config.Cidr;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pollen.agent.error.ErrorCode;
import dev.pollen.agent.error.PollenException;
import dev.pollen.agent.config.ConfigLoader;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

class OriginAddressPolicyTest {
    /** The embedded default's deny list, as the daemon gets it. */
    private static final List<Cidr> DEFAULT = new ConfigLoader().load(null, Map.of(), Map.of()).upload().downloadTask().deniedOrigins();

    private final List<String> lookedUp = new CopyOnWriteArrayList<>();

    /** A resolver that knows a few names (as a cluster's DNS would) and records what it was asked. */
    private InetAddress[] resolve(String host) throws UnknownHostException {
        lookedUp.add(host);
        return switch (host) {
            case "metadata.google.internal" -> new InetAddress[] {InetAddress.getByName("169.254.169.254")};
            case "mirror.example" -> new InetAddress[] {InetAddress.getByName("203.0.113.7")};
            case "split.example" -> new InetAddress[] {InetAddress.getByName("203.0.113.7"), InetAddress.getByName("fe80::1")};
            case "gone.example" -> throw new UnknownHostException(host);
            default -> InetAddress.getAllByName(host);
        };
    }

    private final OriginAddressPolicy policy = new OriginAddressPolicy(DEFAULT, this::resolve);

    @Test
    void theDefaultDeniesLinkLocalAndTheCloudMetadataAddresses() {
        assertThat(DEFAULT).containsExactly(Cidr.parse("169.254.0.0/16"), Cidr.parse("fe80::/10"),
                Cidr.parse("fd00:ec2::254"), Cidr.parse("100.100.100.200"));
        for (String url : List.of("http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/latest/",
                "http://100.100.100.200/latest/meta-data/", "http://[fe80::1]/", "http://169.254.10.1:8080/x")) {
            assertDenied(url);
        }
    }

    @Test
    void refusesANameThatResolvesToADeniedAddress() {
        PollenException e = assertDenied("http://metadata.google.internal/computeMetadata/v1/");
        assertThat(e.getMessage()).contains("metadata.google.internal", "169.254.169.254", "169.254.0.0/16");
    }

    @Test
    void refusesANameWhenAnyOfItsAddressesIsDenied() {
        assertDenied("https://split.example/file");
    }

    @Test
    void refusesTheOtherSpellingsOfADeniedAddress() {
        // The decimal IPv4 form, the IPv4-mapped and NAT64 forms: the same destination in the end.
        for (String url : List.of("http://2852039166/", "http://[::ffff:169.254.169.254]/",
                "http://[64:ff9b::a9fe:a9fe]/")) {
            assertDenied(url);
        }
    }

    @Test
    void checksTheSystemResolverToo() {
        OriginAddressPolicy noLoopback = new OriginAddressPolicy(List.of(Cidr.parse("127.0.0.0/8"), Cidr.parse("::1")));
        assertThatThrownBy(() -> noLoopback.check(URI.create("http://localhost:8080/")))
                .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.ORIGIN_DENIED));
    }

    @Test
    void letsOtherOriginsThrough() {
        assertThatCode(() -> policy.check(URI.create("https://mirror.example/blob"))).doesNotThrowAnyException();
        assertThatCode(() -> policy.check(URI.create("http://203.0.113.9:8080/blob"))).doesNotThrowAnyException();
        assertThat(lookedUp).contains("mirror.example");
    }

    @Test
    void aNameThatDoesNotResolveIsUnreachableAndAUrlWithoutHostInvalid() {
        assertThatThrownBy(() -> policy.check(URI.create("http://gone.example/")))
                .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.ORIGIN_UNREACHABLE));
        assertThatThrownBy(() -> policy.check(URI.create("file:///etc/passwd")))
                .isInstanceOfSatisfying(PollenException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.INVALID_ARGUMENT));
    }

    private PollenException assertDenied(String url) {
        try {
            policy.check(URI.create(url));
        } catch (PollenException e) {
            assertThat(e.code()).as(url).isEqualTo(ErrorCode.ORIGIN_DENIED);
            assertThat(e.getMessage()).as(url).contains(OriginAddressPolicy.KEY);
            return e;
        }
        throw new AssertionError(url + " was let through");
    }
}
