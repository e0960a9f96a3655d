package dev.pollen.scheduler.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.pollen.proto.common.v2.Download;
import dev.pollen.proto.common.v2.Peer;
import dev.pollen.proto.scheduler.v2.AnnouncePeerRequest;
import dev.pollen.proto.scheduler.v2.AnnouncePeerResponse;
import dev.pollen.proto.scheduler.v2.NormalTaskResponse;
import dev.pollen.proto.scheduler.v2.SchedulerGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Matching the scheduler's answers to questions, against a fake scheduler that answers when the test says. */
class PeerSessionTest {
    private final FakeScheduler fake = new FakeScheduler();
    private Server server;
    private ManagedChannel channel;
    private PeerSession session;

    @BeforeEach
    void setUp() throws Exception {
        String name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name).directExecutor().addService(fake).build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        session = new PeerSession(channel, "fake", "host", "t".repeat(64), "peer");
    }

    @AfterEach
    void tearDown() throws Exception {
        session.close();
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    @Test
    void aLateAnswerArrivingWhileTheNextRescheduleWaitsIsNotTakenForItsAnswer() throws Exception {
        register();
        assertThatThrownBy(() -> session.reschedule(List.of(), "first", Duration.ofMillis(200)))
                .isInstanceOf(SchedulerUnavailableException.class).hasMessageContaining("did not answer within 200 ms");
        CompletableFuture<Decision> second = ask("second");
        await().until(() -> fake.questions.size() == 3);

        fake.answer("first");
        fake.answer("second");

        assertThat(second.get(5, TimeUnit.SECONDS)).isEqualTo(parents("second"));
    }

    @Test
    void aLateAnswerArrivingBeforeTheNextRescheduleIsDropped() throws Exception {
        register();
        assertThatThrownBy(() -> session.reschedule(List.of(), "first", Duration.ofMillis(200)))
                .isInstanceOf(SchedulerUnavailableException.class);
        fake.answer("first");

        CompletableFuture<Decision> second = ask("second");
        await().until(() -> fake.questions.size() == 3);
        fake.answer("second");

        assertThat(second.get(5, TimeUnit.SECONDS)).isEqualTo(parents("second"));
    }

    @Test
    void anAnswerNobodyAskedForIsDropped() throws Exception {
        register();
        fake.answer("unasked");

        CompletableFuture<Decision> next = ask("next");
        await().until(() -> fake.questions.size() == 2);
        fake.answer("next");

        assertThat(next.get(5, TimeUnit.SECONDS)).isEqualTo(parents("next"));
    }

    @Test
    void aStreamThatEndsFailsTheWaitingQuestionAndLaterOnes() throws Exception {
        register();
        CompletableFuture<Decision> waiting = ask("waiting");
        await().until(() -> fake.questions.size() == 2);

        fake.responses.onCompleted();

        assertThat(waiting).failsWithin(Duration.ofSeconds(5)).withThrowableThat()
                .havingRootCause().withMessageContaining("closed the stream");
        assertThatThrownBy(() -> session.reschedule(List.of(), "later", Duration.ofSeconds(5)))
                .isInstanceOf(SchedulerUnavailableException.class).hasMessageContaining("closed the stream");
    }

    private void register() throws Exception {
        CompletableFuture<Decision> registered = CompletableFuture.supplyAsync(() -> {
            try {
                return session.register(Download.getDefaultInstance(), Duration.ofSeconds(5));
            } catch (SchedulerUnavailableException e) {
                throw new IllegalStateException(e);
            }
        });
        await().until(() -> fake.questions.size() == 1);
        fake.answer("register");
        assertThat(registered.get(5, TimeUnit.SECONDS)).isEqualTo(parents("register"));
    }

    private CompletableFuture<Decision> ask(String why) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return session.reschedule(List.of(), why, Duration.ofSeconds(5));
            } catch (SchedulerUnavailableException e) {
                throw new IllegalStateException(e);
            }
        });
    }

    /** The answer to question {@code why}: one parent named after it. */
    private static Decision parents(String why) {
        return new Decision.Parents(List.of(Peer.newBuilder().setId("parent-for-" + why).build()));
    }

    private static final class FakeScheduler extends SchedulerGrpc.SchedulerImplBase {
        final List<AnnouncePeerRequest> questions = new CopyOnWriteArrayList<>();
        volatile StreamObserver<AnnouncePeerResponse> responses;

        @Override
        public StreamObserver<AnnouncePeerRequest> announcePeer(StreamObserver<AnnouncePeerResponse> responses) {
            this.responses = responses;
            return new StreamObserver<>() {
                @Override
                public void onNext(AnnouncePeerRequest request) {
                    if (request.hasRegisterPeerRequest() || request.hasReschedulePeerRequest()) {
                        questions.add(request);
                    }
                }

                @Override
                public void onError(Throwable t) {
                }

                @Override
                public void onCompleted() {
                }
            };
        }

        void answer(String why) {
            responses.onNext(AnnouncePeerResponse.newBuilder().setNormalTaskResponse(NormalTaskResponse.newBuilder()
                    .addCandidateParents(Peer.newBuilder().setId("parent-for-" + why))).build());
        }
    }
}
