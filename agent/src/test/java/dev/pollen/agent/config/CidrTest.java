package dev.pollen.agent.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import org.junit.jupiter.api.Test;

class CidrTest {
    @Test
    void aBlockHoldsTheAddressesUnderItsPrefixOfItsOwnFamily() throws Exception {
        Cidr linkLocal = Cidr.parse("169.254.0.0/16");
        assertThat(linkLocal.contains(InetAddress.getByName("169.254.169.254"))).isTrue();
        assertThat(linkLocal.contains(InetAddress.getByName("169.255.0.1"))).isFalse();
        assertThat(linkLocal.contains(InetAddress.getByName("fe80::1"))).isFalse();
        assertThat(Cidr.parse("fe80::/10").contains(InetAddress.getByName("febf::1"))).isTrue();
        assertThat(Cidr.parse("fe80::/10").contains(InetAddress.getByName("fec0::1"))).isFalse();
        assertThat(Cidr.parse("0.0.0.0/0").contains(InetAddress.getByName("203.0.113.9"))).isTrue();
    }

    @Test
    void aBareAddressIsABlockOfOne() throws Exception {
        Cidr one = Cidr.parse("fd00:ec2::254");
        assertThat(one.contains(InetAddress.getByName("fd00:ec2:0:0:0:0:0:254"))).isTrue();
        assertThat(one.contains(InetAddress.getByName("fd00:ec2::255"))).isFalse();
        assertThat(one).hasToString("fd00:ec2:0:0:0:0:0:254");
        assertThat(Cidr.parse(" 10.1.2.3/8 ")).hasToString("10.0.0.0/8").isEqualTo(Cidr.parse("10.0.0.0/8"));
    }

    @Test
    void refusesNamesPrefixesOutOfRangeAndGarbageWithoutAskingDns() {
        assertThatThrownBy(() -> Cidr.parse("metadata.google.internal")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("not an IP address");
        assertThatThrownBy(() -> Cidr.parse("10.0.0.0/33")).hasMessageContaining("0..32");
        assertThatThrownBy(() -> Cidr.parse("fe80::/129")).hasMessageContaining("0..128");
        assertThatThrownBy(() -> Cidr.parse("10.0.0.0/x")).hasMessageContaining("prefix");
        assertThatThrownBy(() -> Cidr.parse("300.0.0.1")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Cidr.parse("")).isInstanceOf(IllegalArgumentException.class);
    }
}
