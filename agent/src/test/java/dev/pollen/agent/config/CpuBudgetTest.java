package dev.pollen.agent.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** CPU detection against fake /proc and /sys trees. */
class CpuBudgetTest {
    @TempDir
    Path root;

    private void write(String path, String content) throws IOException {
        Path file = root.resolve(path);
        Files.createDirectories(file.getParent());
        Files.writeString(file, content);
    }

    private void v2(String ownCgroup) throws IOException {
        write("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n");
        write("proc/self/cgroup", "0::" + ownCgroup + "\n");
    }

    @Test
    void aV2QuotaBelowTheProcessorsWinsRoundedUp() throws IOException {
        v2("/");
        write("sys/fs/cgroup/cpu.max", "150000 100000\n");
        CpuBudget b = CpuBudget.detect(root, 8);
        assertThat(b.cpus()).isEqualTo(2);
        assertThat(b.source()).contains("cpu.max").contains("150000/100000");
    }

    @Test
    void noV2QuotaLeavesTheProcessors() throws IOException {
        v2("/");
        write("sys/fs/cgroup/cpu.max", "max 100000\n");
        assertThat(CpuBudget.detect(root, 4)).isEqualTo(new CpuBudget(4, "availableProcessors"));
    }

    @Test
    void fewerProcessorsThanTheQuotaWin() throws IOException {
        v2("/");
        write("sys/fs/cgroup/cpu.max", "800000 100000\n");
        assertThat(CpuBudget.detect(root, 2).cpus()).isEqualTo(2);
    }

    @Test
    void theTightestQuotaOnThePathToTheProcessesCgroupCounts() throws IOException {
        v2("/system.slice/pollen.service");
        write("sys/fs/cgroup/system.slice/cpu.max", "100000 100000\n");
        write("sys/fs/cgroup/system.slice/pollen.service/cpu.max", "300000 100000\n");
        assertThat(CpuBudget.detect(root, 16).cpus()).isEqualTo(1);
    }

    @Test
    void aV1QuotaCounts() throws IOException {
        write("proc/self/cgroup", "2:cpuacct:/\n1:cpu:/\n0::/\n");
        write("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "250000\n");
        write("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
        assertThat(CpuBudget.detect(root, 8).cpus()).isEqualTo(3);
    }

    @Test
    void aV1QuotaOfMinusOneIsNoQuota() throws IOException {
        write("proc/self/cgroup", "4:cpu,cpuacct:/docker/abc\n");
        write("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
        write("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
        assertThat(CpuBudget.detect(root, 2)).isEqualTo(new CpuBudget(2, "availableProcessors"));
    }

    @Test
    void noCgroupFilesOrUnreadableOnesLeaveTheProcessors() throws IOException {
        assertThat(CpuBudget.detect(root, 6).cpus()).isEqualTo(6);
        v2("/");
        write("sys/fs/cgroup/cpu.max", "garbage\n");
        assertThat(CpuBudget.detect(root, 6).cpus()).isEqualTo(6);
    }

    @Test
    void aQuotaBelowOneCpuIsOne() throws IOException {
        v2("/");
        write("sys/fs/cgroup/cpu.max", "20000 100000\n");
        assertThat(CpuBudget.detect(root, 4).cpus()).isEqualTo(1);
    }
}
