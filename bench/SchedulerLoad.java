import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Host;
import dev.pollen.proto.common.v2.Piece;
import dev.pollen.proto.scheduler.v2.AnnounceHostRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerResponse;
import dev.pollen.proto.scheduler.v2.DownloadPeerBackToSourceStartedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPeerFinishedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPeerStartedRequest;
import dev.pollen.proto.scheduler.v2.DownloadPieceFinishedRequest;
import dev.pollen.proto.scheduler.v2.RegisterPeerRequest;
import dev.pollen.proto.scheduler.v2.SchedulerGrpc;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Simulated peers against a running scheduler: PEERS peers over TASKS tasks (each peer on its own
 * host), each registering, reporting PIECES finished pieces and finishing. Reports messages handled
 * per second and the schedule-decision latency (register sent -> answer received), p50/p99, with at
 * most 64 peers in flight at once. PASSES runs the whole load that many times on fresh tasks and reports the
 * last pass only, so both JVMs are warm; "measuring" on stderr marks the start of the last pass.
 * Run: java -cp 'scheduler/target/pollen-scheduler.jar:scheduler/target/lib/*' bench/SchedulerLoad.java HOST:PORT [PEERS TASKS PIECES PASSES]
 */
public final class SchedulerLoad {
    public static void main(String[] args) throws Exception {
        String target = args[0];
        int peers = args.length > 1 ? Integer.parseInt(args[1]) : 1000;
        int tasks = args.length > 2 ? Integer.parseInt(args[2]) : 100;
        int pieces = args.length > 3 ? Integer.parseInt(args[3]) : 64;
        int passes = args.length > 4 ? Integer.parseInt(args[4]) : 1;
        List<ManagedChannel> channels = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            channels.add(NettyChannelBuilder.forTarget(target).usePlaintext().build());
        }
        for (int p = 0; p < peers; p++) {
            SchedulerGrpc.newBlockingStub(channels.get(p % 4)).announceHost(AnnounceHostRequest.newBuilder()
                    .setHost(Host.newBuilder().setId("load-host-" + p).setIp("10.1." + (p / 250) + "." + (p % 250))
                            .setPort(4000).setDownloadPort(4005)).build());
        }
        for (int pass = 1; pass < passes; pass++) {
            run(channels, pass, peers, tasks, pieces);
            Thread.sleep(1500); // the scheduler logs its last window of this pass before the measured one starts
        }
        System.err.println("measuring");
        run(channels, passes, peers, tasks, pieces).print(peers, tasks, pieces);
        channels.forEach(ManagedChannel::shutdownNow);
    }

    private record Pass(long messages, double seconds, long[] latencies) {
        void print(int peers, int tasks, int pieces) {
            Arrays.sort(latencies);
            System.out.printf("| peers / tasks / pieces each | %d / %d / %d |%n", peers, tasks, pieces);
            System.out.printf("| messages handled | %d in %.2f s = %.0f msg/s |%n", messages, seconds, messages / seconds);
            System.out.printf("| schedule decision latency p50 / p99 | %.2f / %.2f ms |%n",
                    latencies[peers / 2] / 1e6, latencies[(int) (peers * 0.99)] / 1e6);
        }
    }

    private static Pass run(List<ManagedChannel> channels, int pass, int peers, int tasks, int pieces) throws InterruptedException {
        long[] latencies = new long[peers];
        // At most this many peers in flight, as in a swarm that joins over time rather than in one burst.
        java.util.concurrent.Semaphore inFlight = new java.util.concurrent.Semaphore(64);
        AtomicLong sent = new AtomicLong(peers);
        CountDownLatch done = new CountDownLatch(peers);
        long start = System.nanoTime();
        for (int p = 0; p < peers; p++) {
            inFlight.acquire();
            int peer = p;
            String task = String.format("%064x", pass * tasks + peer % tasks);
            String peerId = "load-peer-" + pass + "-" + peer;
            String hostId = "load-host-" + peer;
            long[] registeredAt = new long[1];
            StreamObserver<AnnouncePeerRequest>[] out = new StreamObserver[1];
            out[0] = SchedulerGrpc.newStub(channels.get(peer % 4)).announcePeer(new StreamObserver<>() {
                @Override
                public void onNext(AnnouncePeerResponse r) {
                    latencies[peer] = System.nanoTime() - registeredAt[0];
                    // Report the start as a peer does: only then is it a parent (and a back-to-source peer frees
                    // the task's origin grant when it finishes), so the task's later peers are not held for one.
                    out[0].onNext((r.hasNeedBackToSourceResponse()
                            ? req(hostId, task, peerId).setDownloadPeerBackToSourceStartedRequest(DownloadPeerBackToSourceStartedRequest.getDefaultInstance())
                            : req(hostId, task, peerId).setDownloadPeerStartedRequest(DownloadPeerStartedRequest.getDefaultInstance())).build());
                    for (int n = 0; n < pieces; n++) {
                        out[0].onNext(req(hostId, task, peerId).setDownloadPieceFinishedRequest(DownloadPieceFinishedRequest
                                .newBuilder().setPiece(Piece.newBuilder().setNumber(n).setOffset(n * 4194304L).setLength(4194304))).build());
                    }
                    out[0].onNext(req(hostId, task, peerId).setDownloadPeerFinishedRequest(DownloadPeerFinishedRequest.getDefaultInstance()).build());
                    sent.addAndGet(pieces + 2);
                    out[0].onCompleted();
                }

                @Override
                public void onError(Throwable t) {
                    System.err.println("peer " + peer + ": " + t);
                    inFlight.release();
                    done.countDown();
                }

                @Override
                public void onCompleted() {
                    inFlight.release();
                    done.countDown();
                }
            });
            registeredAt[0] = System.nanoTime();
            out[0].onNext(req(hostId, task, peerId).setRegisterPeerRequest(RegisterPeerRequest.newBuilder()
                    .setDownload(Download.newBuilder().setUrl("http://origin/" + task))).build());
        }
        if (!done.await(120, TimeUnit.SECONDS)) {
            System.err.println("timed out with " + done.getCount() + " peers unfinished");
        }
        return new Pass(sent.get(), (System.nanoTime() - start) / 1e9, latencies);
    }

    private static AnnouncePeerRequest.Builder req(String host, String task, String peer) {
        return AnnouncePeerRequest.newBuilder().setHostId(host).setTaskId(task).setPeerId(peer);
    }
}
