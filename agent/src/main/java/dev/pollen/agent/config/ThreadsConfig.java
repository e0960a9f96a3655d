package dev.pollen.agent.config;

/**
 * {@code threads.*} (Pollen): the daemon's dedicated threads. 0 means derived from the CPUs the process
 * may use ({@link CpuBudget}); a number fixes it. Piece work, origin I/O, upload RPCs and Vortex lookups
 * run on virtual threads (blocking I/O, one per job; the JVM sizes their carrier pool by the same CPUs)
 * and are bounded per task by {@code download.concurrentPieceCount} and per node by
 * {@code upload.concurrentPieceLimit}, not by a pool.
 *
 * @param udsEventLoops Netty event loops of the local API's Unix socket (auto: 1, 2 from 8 CPUs)
 * @param udsControlThreads platform threads that run the local API's short calls (health checks,
 *     StatTask, StatLocalTask, ListLocalTasks) and nothing else, so piece work can never hold them up
 *     (auto: one per CPU, 2..8). DownloadTask and deletes run on virtual threads of the local API's own.
 * @param uploadEventLoops Netty event loops of the DfdaemonUpload gRPC server (auto: CPUs/2, 1..4)
 * @param vortexServerEventLoops Netty event loops sending piece bytes to other peers (auto: CPUs, 1..16)
 * @param vortexClientEventLoops Netty event loops receiving piece bytes from parents (auto: CPUs, 1..16)
 */
public record ThreadsConfig(int udsEventLoops, int udsControlThreads, int uploadEventLoops, int vortexServerEventLoops,
                            int vortexClientEventLoops) {
    /** More event loops busy with piece traffic than this many per CPU leave the local API waiting for one. */
    static final int PIECE_LOOPS_PER_CPU = 4;

    public ThreadsConfig {
        Check.range("threads.udsEventLoops", udsEventLoops, 0, 64);
        if (udsControlThreads == 1) {
            throw ConfigException.invalid("threads.udsControlThreads", udsControlThreads,
                    "0 for auto, or 2..256: one slow call must not hold up health checks");
        }
        Check.range("threads.udsControlThreads", udsControlThreads, 0, 256);
        Check.range("threads.uploadEventLoops", uploadEventLoops, 0, 64);
        Check.range("threads.vortexServerEventLoops", vortexServerEventLoops, 0, 256);
        Check.range("threads.vortexClientEventLoops", vortexClientEventLoops, 0, 256);
    }

    /** The counts in force on {@code cpus}: each key's own value, or the one derived for it. */
    Effective resolve(CpuBudget cpus) {
        int c = cpus.cpus();
        return new Effective(cpus,
                or(udsEventLoops, clamp(c / 4, 1, 2)),
                or(udsControlThreads, clamp(c, 2, 8)),
                or(uploadEventLoops, clamp(c / 2, 1, 4)),
                or(vortexServerEventLoops, clamp(c, 1, 16)),
                or(vortexClientEventLoops, clamp(c, 1, 16)));
    }

    /** The derived counts, as a working example in error messages. */
    static Effective derived(CpuBudget cpus) {
        return new ThreadsConfig(0, 0, 0, 0, 0).resolve(cpus);
    }

    private static int or(int configured, int derived) {
        return configured == 0 ? derived : configured;
    }

    private static int clamp(int value, int min, int max) {
        return Math.max(min, Math.min(max, value));
    }

    /** The thread counts the daemon runs with, after {@link DaemonConfig#conclude}. */
    public record Effective(CpuBudget cpus, int udsEventLoops, int udsControlThreads, int uploadEventLoops,
                            int vortexServerEventLoops, int vortexClientEventLoops) {
        int pieceTrafficLoops() {
            return uploadEventLoops + vortexServerEventLoops + vortexClientEventLoops;
        }

        /** For the start-up log line. */
        @Override
        public String toString() {
            return "cpus=" + cpus.cpus() + " cpu_source=\"" + cpus.source() + "\" uds_event_loops=" + udsEventLoops
                    + " uds_control_threads=" + udsControlThreads + " upload_event_loops=" + uploadEventLoops
                    + " vortex_server_event_loops=" + vortexServerEventLoops + " vortex_client_event_loops="
                    + vortexClientEventLoops;
        }
    }
}
