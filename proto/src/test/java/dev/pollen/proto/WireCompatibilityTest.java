package dev.pollen.proto;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.DescriptorProtos.DescriptorProto;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.EnumDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.Descriptors.MethodDescriptor;
import com.google.protobuf.Descriptors.OneofDescriptor;
import com.google.protobuf.Descriptors.ServiceDescriptor;
import dev.pollen.proto.common.v2.CommonProto;
import dev.pollen.proto.dfdaemon.v2.DfdaemonDownloadGrpc;
import dev.pollen.proto.dfdaemon.v2.DfdaemonProto;
import dev.pollen.proto.dfdaemon.v2.DfdaemonUploadGrpc;
import dev.pollen.proto.errordetails.v2.ErrordetailsProto;
import dev.pollen.proto.scheduler.v2.SchedulerGrpc;
import dev.pollen.proto.scheduler.v2.SchedulerProto;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Pins the wire contract of our Dragonfly v2 protos against values taken from the upstream
 * dragonflyoss/api definitions (not from our generated code), so any drift in a field number,
 * type, label, oneof membership, service or method fails the build.
 *
 * <p>Field rows are {@code name number type [label]}: {@code type} is the proto scalar name, the
 * full name of a message/enum, or {@code map<k,v>}; {@code label} is {@code optional} (proto3
 * explicit presence), {@code repeated}, or {@code oneof=<name>} for members of a real oneof.
 */
class WireCompatibilityTest {

  private static final FileDescriptor COMMON = CommonProto.getDescriptor();
  private static final FileDescriptor DFDAEMON = DfdaemonProto.getDescriptor();
  private static final FileDescriptor SCHEDULER = SchedulerProto.getDescriptor();
  private static final FileDescriptor ERRORDETAILS = ErrordetailsProto.getDescriptor();

  // ---------------------------------------------------------------------------------------------
  // Expected message layouts (upstream dragonflyoss/api, crate 2.3.x)
  // ---------------------------------------------------------------------------------------------

  static Stream<Arguments> messages() {
    return Stream.of(
        // ---- common.v2 ----
        msg(COMMON, "common.v2.Download", """
            url 1 string
            digest 2 string optional
            range 3 common.v2.Range optional
            type 4 common.v2.TaskType
            tag 5 string optional
            application 6 string optional
            priority 7 common.v2.Priority
            filtered_query_params 8 string repeated
            request_header 9 map<string,string>
            piece_length 10 uint64 optional
            output_path 11 string optional
            timeout 12 google.protobuf.Duration optional
            disable_back_to_source 13 bool
            need_back_to_source 14 bool
            certificate_chain 15 bytes repeated
            prefetch 16 bool
            object_storage 17 common.v2.ObjectStorage optional
            hdfs 18 common.v2.HDFS optional
            is_prefetch 19 bool
            need_piece_content 20 bool
            force_hard_link 22 bool
            content_for_calculating_task_id 23 string optional
            remote_ip 24 string optional
            concurrent_piece_count 25 uint32 optional
            overwrite 26 bool
            actual_piece_length 27 uint64 optional
            actual_content_length 28 uint64 optional
            actual_piece_count 29 uint64 optional
            enable_task_id_based_blob_digest 30 bool
            hugging_face 31 common.v2.HuggingFace optional
            model_scope 32 common.v2.ModelScope optional
            metadata_only 33 bool
            open_csg 34 common.v2.OpenCSG optional
            scheduling_policy 35 common.v2.SchedulingPolicy
            """),
        msg(COMMON, "common.v2.Piece", """
            number 1 uint32
            parent_id 2 string optional
            offset 3 uint64
            length 4 uint64
            digest 5 string
            content 6 bytes optional
            traffic_type 7 common.v2.TrafficType optional
            cost 8 google.protobuf.Duration
            created_at 9 google.protobuf.Timestamp
            """),
        msg(COMMON, "common.v2.Peer", """
            id 1 string
            range 2 common.v2.Range optional
            priority 3 common.v2.Priority
            pieces 4 common.v2.Piece repeated
            cost 5 google.protobuf.Duration
            state 6 string
            task 7 common.v2.Task
            host 8 common.v2.Host
            need_back_to_source 9 bool
            created_at 10 google.protobuf.Timestamp
            updated_at 11 google.protobuf.Timestamp
            concurrent_piece_count 12 uint32 optional
            """),
        msg(COMMON, "common.v2.Task", """
            id 1 string
            type 2 common.v2.TaskType
            url 3 string
            digest 4 string optional
            tag 5 string optional
            application 6 string optional
            filtered_query_params 7 string repeated
            request_header 8 map<string,string>
            content_length 9 uint64
            piece_count 10 uint32
            size_scope 11 common.v2.SizeScope
            pieces 12 common.v2.Piece repeated
            state 13 string
            peer_count 14 uint32
            has_available_peer 15 bool
            created_at 16 google.protobuf.Timestamp
            updated_at 17 google.protobuf.Timestamp
            """),
        msg(COMMON, "common.v2.Host", """
            id 1 string
            type 2 uint32
            hostname 3 string
            ip 4 string
            port 5 int32
            download_port 6 int32
            os 7 string
            platform 8 string
            platform_family 9 string
            platform_version 10 string
            kernel_version 11 string
            cpu 12 common.v2.CPU optional
            memory 13 common.v2.Memory optional
            network 14 common.v2.Network optional
            disk 15 common.v2.Disk optional
            build 16 common.v2.Build optional
            scheduler_cluster_id 17 uint64
            disable_shared 18 bool
            proxy_port 19 int32
            name 20 string
            """),
        msg(COMMON, "common.v2.Range", """
            start 1 uint64
            length 2 uint64
            """),
        msg(COMMON, "common.v2.CPU", """
            logical_count 1 uint32
            physical_count 2 uint32
            percent 3 double
            process_percent 4 double
            times 5 common.v2.CPUTimes optional
            cgroup 6 common.v2.CgroupCPU optional
            """),
        msg(COMMON, "common.v2.Memory", """
            total 1 uint64
            available 2 uint64
            used 3 uint64
            used_percent 4 double
            process_used_percent 5 double
            free 6 uint64
            cgroup 7 common.v2.CgroupMemory optional
            """),
        msg(COMMON, "common.v2.Network", """
            tcp_connection_count 1 uint32
            upload_tcp_connection_count 2 uint32
            location 3 string optional
            idc 4 string optional
            max_rx_bandwidth 9 uint64
            rx_bandwidth 10 uint64 optional
            max_tx_bandwidth 11 uint64
            tx_bandwidth 12 uint64 optional
            """),
        msg(COMMON, "common.v2.Disk", """
            total 1 uint64
            free 2 uint64
            used 3 uint64
            used_percent 4 double
            inodes_total 5 uint64
            inodes_used 6 uint64
            inodes_free 7 uint64
            inodes_used_percent 8 double
            read_bandwidth 9 uint64
            write_bandwidth 10 uint64
            cgroup 11 common.v2.CgroupDisk optional
            """),
        msg(COMMON, "common.v2.Build", """
            git_version 1 string
            git_commit 2 string optional
            go_version 3 string optional
            rust_version 4 string optional
            platform 5 string optional
            """),
        // ---- dfdaemon.v2 ----
        msg(DFDAEMON, "dfdaemon.v2.DownloadTaskRequest", """
            download 1 common.v2.Download
            """),
        msg(DFDAEMON, "dfdaemon.v2.DownloadTaskResponse", """
            host_id 1 string
            task_id 2 string
            peer_id 3 string
            download_task_started_response 4 dfdaemon.v2.DownloadTaskStartedResponse oneof=response
            download_piece_finished_response 5 dfdaemon.v2.DownloadPieceFinishedResponse oneof=response
            """),
        msg(DFDAEMON, "dfdaemon.v2.DownloadTaskStartedResponse", """
            content_length 1 uint64
            range 2 common.v2.Range optional
            response_header 3 map<string,string>
            pieces 4 common.v2.Piece repeated
            is_finished 5 bool
            """),
        msg(DFDAEMON, "dfdaemon.v2.DownloadPieceFinishedResponse", """
            piece 1 common.v2.Piece
            """),
        msg(DFDAEMON, "dfdaemon.v2.SyncPiecesRequest", """
            host_id 1 string
            task_id 2 string
            interested_piece_numbers 3 uint32 repeated
            """),
        msg(DFDAEMON, "dfdaemon.v2.SyncPiecesResponse", """
            number 1 uint32
            offset 2 uint64
            length 3 uint64
            ip 4 string
            tcp_port 5 int32 optional
            quic_port 6 int32 optional
            """),
        msg(DFDAEMON, "dfdaemon.v2.StatTaskRequest", """
            task_id 1 string
            remote_ip 2 string optional
            """),
        msg(DFDAEMON, "dfdaemon.v2.StatLocalTaskRequest", """
            task_id 1 string
            remote_ip 2 string optional
            """),
        msg(DFDAEMON, "dfdaemon.v2.StatLocalTaskResponse", """
            task_id 1 string
            piece_length 2 uint64 optional
            content_length 3 uint64 optional
            response_header 4 map<string,string>
            uploading_count 5 uint64
            uploaded_count 6 uint64
            created_at 7 google.protobuf.Timestamp
            updated_at 8 google.protobuf.Timestamp
            prefetched_at 9 google.protobuf.Timestamp optional
            failed_at 10 google.protobuf.Timestamp optional
            finished_at 11 google.protobuf.Timestamp optional
            """),
        msg(DFDAEMON, "dfdaemon.v2.ListLocalTasksRequest", """
            remote_ip 1 string optional
            """),
        msg(DFDAEMON, "dfdaemon.v2.ListLocalTasksResponse", """
            tasks 1 dfdaemon.v2.StatLocalTaskResponse repeated
            """),
        msg(DFDAEMON, "dfdaemon.v2.ListTaskEntriesRequest", """
            task_id 1 string
            url 2 string
            request_header 3 map<string,string>
            timeout 4 google.protobuf.Duration optional
            certificate_chain 5 bytes repeated
            object_storage 6 common.v2.ObjectStorage optional
            hdfs 7 common.v2.HDFS optional
            remote_ip 8 string optional
            hugging_face 9 common.v2.HuggingFace optional
            model_scope 10 common.v2.ModelScope optional
            open_csg 11 common.v2.OpenCSG optional
            """),
        msg(DFDAEMON, "dfdaemon.v2.ListTaskEntriesResponse", """
            content_length 1 uint64
            response_header 2 map<string,string>
            status_code 3 int32 optional
            entries 4 dfdaemon.v2.Entry repeated
            """),
        msg(DFDAEMON, "dfdaemon.v2.Entry", """
            url 1 string
            content_length 2 uint64
            is_dir 3 bool
            """),
        msg(DFDAEMON, "dfdaemon.v2.DeleteTaskRequest", """
            task_id 1 string
            remote_ip 2 string optional
            """),
        msg(DFDAEMON, "dfdaemon.v2.DeleteLocalTaskRequest", """
            task_id 1 string
            remote_ip 2 string optional
            """),
        msg(DFDAEMON, "dfdaemon.v2.SyncHostRequest", """
            host_id 1 string
            peer_id 2 string
            """),
        // ---- scheduler.v2: AnnouncePeer and every member of its request oneof ----
        msg(SCHEDULER, "scheduler.v2.AnnouncePeerRequest", """
            host_id 1 string
            task_id 2 string
            peer_id 3 string
            register_peer_request 4 scheduler.v2.RegisterPeerRequest oneof=request
            download_peer_started_request 5 scheduler.v2.DownloadPeerStartedRequest oneof=request
            download_peer_back_to_source_started_request 6 scheduler.v2.DownloadPeerBackToSourceStartedRequest oneof=request
            reschedule_peer_request 7 scheduler.v2.ReschedulePeerRequest oneof=request
            download_peer_finished_request 8 scheduler.v2.DownloadPeerFinishedRequest oneof=request
            download_peer_back_to_source_finished_request 9 scheduler.v2.DownloadPeerBackToSourceFinishedRequest oneof=request
            download_peer_failed_request 10 scheduler.v2.DownloadPeerFailedRequest oneof=request
            download_peer_back_to_source_failed_request 11 scheduler.v2.DownloadPeerBackToSourceFailedRequest oneof=request
            download_piece_finished_request 12 scheduler.v2.DownloadPieceFinishedRequest oneof=request
            download_piece_back_to_source_finished_request 13 scheduler.v2.DownloadPieceBackToSourceFinishedRequest oneof=request
            download_piece_failed_request 14 scheduler.v2.DownloadPieceFailedRequest oneof=request
            download_piece_back_to_source_failed_request 15 scheduler.v2.DownloadPieceBackToSourceFailedRequest oneof=request
            """),
        msg(SCHEDULER, "scheduler.v2.RegisterPeerRequest", """
            download 1 common.v2.Download
            """),
        msg(SCHEDULER, "scheduler.v2.DownloadPeerStartedRequest", ""),
        msg(SCHEDULER, "scheduler.v2.DownloadPeerBackToSourceStartedRequest", """
            description 1 string optional
            """),
        msg(SCHEDULER, "scheduler.v2.ReschedulePeerRequest", """
            candidate_parents 1 common.v2.Peer repeated
            description 2 string optional
            """),
        msg(SCHEDULER, "scheduler.v2.DownloadPeerFinishedRequest", ""),
        msg(SCHEDULER, "scheduler.v2.DownloadPeerBackToSourceFinishedRequest", ""),
        msg(SCHEDULER, "scheduler.v2.DownloadPeerFailedRequest", """
            description 1 string optional
            """),
        msg(SCHEDULER, "scheduler.v2.DownloadPeerBackToSourceFailedRequest", """
            description 1 string optional
            """),
        msg(SCHEDULER, "scheduler.v2.DownloadPieceFinishedRequest", """
            piece 1 common.v2.Piece
            """),
        msg(SCHEDULER, "scheduler.v2.DownloadPieceBackToSourceFinishedRequest", """
            piece 1 common.v2.Piece
            """),
        msg(SCHEDULER, "scheduler.v2.DownloadPieceFailedRequest", """
            piece_number 1 uint32 optional
            parent_id 2 string
            temporary 3 bool
            """),
        msg(SCHEDULER, "scheduler.v2.DownloadPieceBackToSourceFailedRequest", """
            piece_number 1 uint32 optional
            backend 2 errordetails.v2.Backend oneof=response
            unknown 3 errordetails.v2.Unknown oneof=response
            """),
        msg(SCHEDULER, "scheduler.v2.AnnouncePeerResponse", """
            empty_task_response 1 scheduler.v2.EmptyTaskResponse oneof=response
            normal_task_response 2 scheduler.v2.NormalTaskResponse oneof=response
            need_back_to_source_response 3 scheduler.v2.NeedBackToSourceResponse oneof=response
            metadata_only_response 4 scheduler.v2.MetadataOnlyResponse oneof=response
            """),
        msg(SCHEDULER, "scheduler.v2.EmptyTaskResponse", ""),
        msg(SCHEDULER, "scheduler.v2.NormalTaskResponse", """
            candidate_parents 1 common.v2.Peer repeated
            """),
        msg(SCHEDULER, "scheduler.v2.NeedBackToSourceResponse", """
            description 1 string optional
            """),
        msg(SCHEDULER, "scheduler.v2.MetadataOnlyResponse", ""),
        msg(SCHEDULER, "scheduler.v2.AnnounceHostRequest", """
            host 1 common.v2.Host
            interval 2 google.protobuf.Duration optional
            """),
        msg(SCHEDULER, "scheduler.v2.StatPeerRequest", """
            host_id 1 string
            task_id 2 string
            peer_id 3 string
            """),
        msg(SCHEDULER, "scheduler.v2.DeletePeerRequest", """
            host_id 1 string
            task_id 2 string
            peer_id 3 string
            """),
        msg(SCHEDULER, "scheduler.v2.StatTaskRequest", """
            host_id 1 string
            task_id 2 string
            """),
        msg(SCHEDULER, "scheduler.v2.DeleteTaskRequest", """
            host_id 1 string
            task_id 2 string
            """),
        msg(SCHEDULER, "scheduler.v2.ListHostsRequest", """
            type 1 uint32 optional
            """),
        msg(SCHEDULER, "scheduler.v2.ListHostsResponse", """
            hosts 1 common.v2.Host repeated
            """),
        msg(SCHEDULER, "scheduler.v2.DeleteHostRequest", """
            host_id 1 string
            """),
        // ---- errordetails.v2 ----
        msg(ERRORDETAILS, "errordetails.v2.Backend", """
            message 1 string
            header 2 map<string,string>
            status_code 3 int32 optional
            """),
        msg(ERRORDETAILS, "errordetails.v2.Unknown", """
            message 1 string optional
            """));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("messages")
  void messageLayoutMatchesUpstream(String fullName, FileDescriptor file, String table) {
    Descriptor descriptor = findMessage(file, fullName);
    assertThat(describeFields(descriptor))
        .as("fields of %s (name number type [label])", fullName)
        .containsExactlyElementsOf(parseRows(table));
  }

  /** Every oneof member of AnnouncePeerRequest must be one of the pinned request messages. */
  @Test
  void announcePeerRequestOneofIsComplete() {
    Descriptor request = findMessage(SCHEDULER, "scheduler.v2.AnnouncePeerRequest");
    OneofDescriptor oneof = request.getRealOneofs().get(0);
    assertThat(request.getRealOneofs()).hasSize(1);
    assertThat(oneof.getName()).isEqualTo("request");
    List<String> memberTypes =
        oneof.getFields().stream().map(f -> f.getMessageType().getFullName()).toList();
    List<String> pinned =
        messages().map(a -> (String) a.get()[0]).filter(n -> n.startsWith("scheduler.v2.")).toList();
    assertThat(pinned).containsAll(memberTypes);
  }

  // ---------------------------------------------------------------------------------------------
  // Reserved numbers/names (reusing them would silently break old peers)
  // ---------------------------------------------------------------------------------------------

  static Stream<Arguments> reservations() {
    return Stream.of(
        Arguments.of("common.v2.Download", COMMON, "21", "load_to_cache"),
        Arguments.of(
            "common.v2.Network",
            COMMON,
            "5 6 7 8",
            "download_rate download_rate_limit upload_rate upload_rate_limit"),
        Arguments.of("dfdaemon.v2.StatTaskRequest", DFDAEMON, "3", "local_only"),
        Arguments.of(
            "scheduler.v2.DownloadPeerFinishedRequest", SCHEDULER, "1 2", "content_length piece_count"),
        Arguments.of(
            "scheduler.v2.DownloadPeerBackToSourceFinishedRequest",
            SCHEDULER,
            "1 2",
            "content_length piece_count"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("reservations")
  void reservedNumbersAndNamesMatchUpstream(
      String fullName, FileDescriptor file, String numbers, String names) {
    DescriptorProto proto = findMessage(file, fullName).toProto();
    TreeSet<Integer> reserved = new TreeSet<>();
    proto.getReservedRangeList()
        .forEach(r -> { for (int i = r.getStart(); i < r.getEnd(); i++) reserved.add(i); });
    assertThat(reserved)
        .containsExactlyElementsOf(
            Arrays.stream(numbers.split(" ")).map(Integer::valueOf).sorted().toList());
    assertThat(proto.getReservedNameList()).containsExactlyInAnyOrder(names.split(" "));
  }

  // ---------------------------------------------------------------------------------------------
  // Enums
  // ---------------------------------------------------------------------------------------------

  static Stream<Arguments> enums() {
    return Stream.of(
        Arguments.of("common.v2.SizeScope", "NORMAL=0 SMALL=1 TINY=2 EMPTY=3"),
        Arguments.of("common.v2.TaskType", "STANDARD=0 PERSISTENT=1 PERSISTENT_CACHE=2 CACHE=3"),
        Arguments.of("common.v2.TrafficType", "BACK_TO_SOURCE=0 REMOTE_PEER=1 LOCAL_PEER=2"),
        Arguments.of(
            "common.v2.Priority",
            "LEVEL0=0 LEVEL1=1 LEVEL2=2 LEVEL3=3 LEVEL4=4 LEVEL5=5 LEVEL6=6"),
        Arguments.of("common.v2.SchedulingPolicy", "AUTO=0 ALWAYS=1"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("enums")
  void enumValuesMatchUpstream(String fullName, String values) {
    EnumDescriptor e = COMMON.findEnumTypeByName(fullName.substring("common.v2.".length()));
    assertThat(e).as(fullName).isNotNull();
    assertThat(e.getValues().stream().map(v -> v.getName() + "=" + v.getNumber()).toList())
        .containsExactly(values.split(" "));
  }

  // ---------------------------------------------------------------------------------------------
  // Services: full names, methods, request/response types and streaming kinds
  // ---------------------------------------------------------------------------------------------

  private static final String DFDAEMON_DOWNLOAD_METHODS = """
      DownloadTask dfdaemon.v2.DownloadTaskRequest dfdaemon.v2.DownloadTaskResponse SERVER_STREAMING
      StatTask dfdaemon.v2.StatTaskRequest common.v2.Task UNARY
      StatLocalTask dfdaemon.v2.StatLocalTaskRequest dfdaemon.v2.StatLocalTaskResponse UNARY
      ListLocalTasks dfdaemon.v2.ListLocalTasksRequest dfdaemon.v2.ListLocalTasksResponse UNARY
      ListTaskEntries dfdaemon.v2.ListTaskEntriesRequest dfdaemon.v2.ListTaskEntriesResponse UNARY
      DeleteTask dfdaemon.v2.DeleteTaskRequest google.protobuf.Empty UNARY
      DeleteLocalTask dfdaemon.v2.DeleteLocalTaskRequest google.protobuf.Empty UNARY
      DeleteHost google.protobuf.Empty google.protobuf.Empty UNARY
      DownloadCacheTask dfdaemon.v2.DownloadCacheTaskRequest dfdaemon.v2.DownloadCacheTaskResponse SERVER_STREAMING
      StatCacheTask dfdaemon.v2.StatCacheTaskRequest common.v2.CacheTask UNARY
      DeleteCacheTask dfdaemon.v2.DeleteCacheTaskRequest google.protobuf.Empty UNARY
      DownloadPersistentTask dfdaemon.v2.DownloadPersistentTaskRequest dfdaemon.v2.DownloadPersistentTaskResponse SERVER_STREAMING
      UploadPersistentTask dfdaemon.v2.UploadPersistentTaskRequest common.v2.PersistentTask UNARY
      StatPersistentTask dfdaemon.v2.StatPersistentTaskRequest common.v2.PersistentTask UNARY
      StatLocalPersistentTask dfdaemon.v2.StatLocalPersistentTaskRequest dfdaemon.v2.StatLocalPersistentTaskResponse UNARY
      ListLocalPersistentTasks dfdaemon.v2.ListLocalPersistentTasksRequest dfdaemon.v2.ListLocalPersistentTasksResponse UNARY
      DownloadPersistentCacheTask dfdaemon.v2.DownloadPersistentCacheTaskRequest dfdaemon.v2.DownloadPersistentCacheTaskResponse SERVER_STREAMING
      UploadPersistentCacheTask dfdaemon.v2.UploadPersistentCacheTaskRequest common.v2.PersistentCacheTask UNARY
      StatPersistentCacheTask dfdaemon.v2.StatPersistentCacheTaskRequest common.v2.PersistentCacheTask UNARY
      StatLocalPersistentCacheTask dfdaemon.v2.StatLocalPersistentCacheTaskRequest dfdaemon.v2.StatLocalPersistentCacheTaskResponse UNARY
      ListLocalPersistentCacheTasks dfdaemon.v2.ListLocalPersistentCacheTasksRequest dfdaemon.v2.ListLocalPersistentCacheTasksResponse UNARY
      """;

  private static final String DFDAEMON_UPLOAD_METHODS = """
      DownloadTask dfdaemon.v2.DownloadTaskRequest dfdaemon.v2.DownloadTaskResponse SERVER_STREAMING
      StatTask dfdaemon.v2.StatTaskRequest common.v2.Task UNARY
      StatLocalTask dfdaemon.v2.StatLocalTaskRequest dfdaemon.v2.StatLocalTaskResponse UNARY
      ListTaskEntries dfdaemon.v2.ListTaskEntriesRequest dfdaemon.v2.ListTaskEntriesResponse UNARY
      DeleteTask dfdaemon.v2.DeleteTaskRequest google.protobuf.Empty UNARY
      SyncPieces dfdaemon.v2.SyncPiecesRequest dfdaemon.v2.SyncPiecesResponse SERVER_STREAMING
      DownloadCacheTask dfdaemon.v2.DownloadCacheTaskRequest dfdaemon.v2.DownloadCacheTaskResponse SERVER_STREAMING
      StatCacheTask dfdaemon.v2.StatCacheTaskRequest common.v2.CacheTask UNARY
      DeleteCacheTask dfdaemon.v2.DeleteCacheTaskRequest google.protobuf.Empty UNARY
      SyncCachePieces dfdaemon.v2.SyncCachePiecesRequest dfdaemon.v2.SyncCachePiecesResponse SERVER_STREAMING
      DownloadCachePiece dfdaemon.v2.DownloadCachePieceRequest dfdaemon.v2.DownloadCachePieceResponse UNARY
      DownloadPersistentTask dfdaemon.v2.DownloadPersistentTaskRequest dfdaemon.v2.DownloadPersistentTaskResponse SERVER_STREAMING
      SyncPersistentPieces dfdaemon.v2.SyncPersistentPiecesRequest dfdaemon.v2.SyncPersistentPiecesResponse SERVER_STREAMING
      UpdatePersistentTask dfdaemon.v2.UpdatePersistentTaskRequest google.protobuf.Empty UNARY
      StatPersistentTask dfdaemon.v2.StatPersistentTaskRequest common.v2.PersistentTask UNARY
      DeletePersistentTask dfdaemon.v2.DeletePersistentTaskRequest google.protobuf.Empty UNARY
      DownloadPersistentCacheTask dfdaemon.v2.DownloadPersistentCacheTaskRequest dfdaemon.v2.DownloadPersistentCacheTaskResponse SERVER_STREAMING
      UpdatePersistentCacheTask dfdaemon.v2.UpdatePersistentCacheTaskRequest google.protobuf.Empty UNARY
      StatPersistentCacheTask dfdaemon.v2.StatPersistentCacheTaskRequest common.v2.PersistentCacheTask UNARY
      DeletePersistentCacheTask dfdaemon.v2.DeletePersistentCacheTaskRequest google.protobuf.Empty UNARY
      SyncPersistentCachePieces dfdaemon.v2.SyncPersistentCachePiecesRequest dfdaemon.v2.SyncPersistentCachePiecesResponse SERVER_STREAMING
      SyncHost dfdaemon.v2.SyncHostRequest common.v2.Host SERVER_STREAMING
      """;

  private static final String SCHEDULER_METHODS = """
      AnnouncePeer scheduler.v2.AnnouncePeerRequest scheduler.v2.AnnouncePeerResponse BIDI_STREAMING
      StatPeer scheduler.v2.StatPeerRequest common.v2.Peer UNARY
      DeletePeer scheduler.v2.DeletePeerRequest google.protobuf.Empty UNARY
      StatTask scheduler.v2.StatTaskRequest common.v2.Task UNARY
      DeleteTask scheduler.v2.DeleteTaskRequest google.protobuf.Empty UNARY
      AnnounceHost scheduler.v2.AnnounceHostRequest google.protobuf.Empty UNARY
      ListHosts scheduler.v2.ListHostsRequest scheduler.v2.ListHostsResponse UNARY
      DeleteHost scheduler.v2.DeleteHostRequest google.protobuf.Empty UNARY
      AnnounceCachePeer scheduler.v2.AnnounceCachePeerRequest scheduler.v2.AnnounceCachePeerResponse BIDI_STREAMING
      StatCachePeer scheduler.v2.StatCachePeerRequest common.v2.CachePeer UNARY
      DeleteCachePeer scheduler.v2.DeleteCachePeerRequest google.protobuf.Empty UNARY
      StatCacheTask scheduler.v2.StatCacheTaskRequest common.v2.CacheTask UNARY
      DeleteCacheTask scheduler.v2.DeleteCacheTaskRequest google.protobuf.Empty UNARY
      AnnouncePersistentPeer scheduler.v2.AnnouncePersistentPeerRequest scheduler.v2.AnnouncePersistentPeerResponse BIDI_STREAMING
      StatPersistentPeer scheduler.v2.StatPersistentPeerRequest common.v2.PersistentPeer UNARY
      DeletePersistentPeer scheduler.v2.DeletePersistentPeerRequest google.protobuf.Empty UNARY
      UploadPersistentTaskStarted scheduler.v2.UploadPersistentTaskStartedRequest google.protobuf.Empty UNARY
      UploadPersistentTaskFinished scheduler.v2.UploadPersistentTaskFinishedRequest common.v2.PersistentTask UNARY
      UploadPersistentTaskFailed scheduler.v2.UploadPersistentTaskFailedRequest google.protobuf.Empty UNARY
      StatPersistentTask scheduler.v2.StatPersistentTaskRequest common.v2.PersistentTask UNARY
      DeletePersistentTask scheduler.v2.DeletePersistentTaskRequest google.protobuf.Empty UNARY
      AnnouncePersistentCachePeer scheduler.v2.AnnouncePersistentCachePeerRequest scheduler.v2.AnnouncePersistentCachePeerResponse BIDI_STREAMING
      StatPersistentCachePeer scheduler.v2.StatPersistentCachePeerRequest common.v2.PersistentCachePeer UNARY
      DeletePersistentCachePeer scheduler.v2.DeletePersistentCachePeerRequest google.protobuf.Empty UNARY
      UploadPersistentCacheTaskStarted scheduler.v2.UploadPersistentCacheTaskStartedRequest google.protobuf.Empty UNARY
      UploadPersistentCacheTaskFinished scheduler.v2.UploadPersistentCacheTaskFinishedRequest common.v2.PersistentCacheTask UNARY
      UploadPersistentCacheTaskFailed scheduler.v2.UploadPersistentCacheTaskFailedRequest google.protobuf.Empty UNARY
      StatPersistentCacheTask scheduler.v2.StatPersistentCacheTaskRequest common.v2.PersistentCacheTask UNARY
      DeletePersistentCacheTask scheduler.v2.DeletePersistentCacheTaskRequest google.protobuf.Empty UNARY
      PreheatImage scheduler.v2.PreheatImageRequest google.protobuf.Empty UNARY
      StatImage scheduler.v2.StatImageRequest scheduler.v2.StatImageResponse UNARY
      PreheatFile scheduler.v2.PreheatFileRequest google.protobuf.Empty UNARY
      StatFile scheduler.v2.StatFileRequest scheduler.v2.StatFileResponse UNARY
      """;

  static Stream<Arguments> services() {
    return Stream.of(
        Arguments.of(
            "dfdaemon.v2.DfdaemonDownload",
            DFDAEMON,
            DFDAEMON_DOWNLOAD_METHODS,
            DfdaemonDownloadGrpc.getServiceDescriptor()),
        Arguments.of(
            "dfdaemon.v2.DfdaemonUpload",
            DFDAEMON,
            DFDAEMON_UPLOAD_METHODS,
            DfdaemonUploadGrpc.getServiceDescriptor()),
        Arguments.of(
            "scheduler.v2.Scheduler", SCHEDULER, SCHEDULER_METHODS, SchedulerGrpc.getServiceDescriptor()));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("services")
  void serviceMatchesUpstream(
      String fullName, FileDescriptor file, String table, io.grpc.ServiceDescriptor grpc) {
    List<String> expected = parseRows(table);

    ServiceDescriptor service = file.findServiceByName(simpleName(fullName));
    assertThat(service).as(fullName).isNotNull();
    assertThat(service.getFullName()).isEqualTo(fullName);
    assertThat(service.getMethods().stream().map(WireCompatibilityTest::describeMethod).toList())
        .as("methods of %s", fullName)
        .containsExactlyInAnyOrderElementsOf(expected);

    // The generated gRPC stubs must use the same wire paths and call types.
    assertThat(grpc.getName()).isEqualTo(fullName);
    List<String> expectedPaths =
        expected.stream()
            .map(row -> row.split(" "))
            .map(cols -> fullName + "/" + cols[0] + " " + cols[3])
            .toList();
    assertThat(grpc.getMethods().stream()
            .map(m -> m.getFullMethodName() + " " + m.getType().name())
            .toList())
        .as("gRPC methods of %s", fullName)
        .containsExactlyInAnyOrderElementsOf(expectedPaths);
  }

  @Test
  void packagesAreDragonflyPackages() {
    assertThat(COMMON.getPackage()).isEqualTo("common.v2");
    assertThat(DFDAEMON.getPackage()).isEqualTo("dfdaemon.v2");
    assertThat(SCHEDULER.getPackage()).isEqualTo("scheduler.v2");
    assertThat(ERRORDETAILS.getPackage()).isEqualTo("errordetails.v2");
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers
  // ---------------------------------------------------------------------------------------------

  private static Arguments msg(FileDescriptor file, String fullName, String table) {
    return Arguments.of(fullName, file, table);
  }

  private static String simpleName(String fullName) {
    return fullName.substring(fullName.lastIndexOf('.') + 1);
  }

  private static Descriptor findMessage(FileDescriptor file, String fullName) {
    Descriptor d = file.findMessageTypeByName(simpleName(fullName));
    assertThat(d).as("message %s", fullName).isNotNull();
    assertThat(d.getFullName()).isEqualTo(fullName);
    return d;
  }

  /** Splits a text block into normalised rows, dropping blank lines. */
  private static List<String> parseRows(String table) {
    List<String> rows = new ArrayList<>();
    for (String line : table.split("\n")) {
      String row = line.trim().replaceAll("\\s+", " ");
      if (!row.isEmpty()) {
        rows.add(row);
      }
    }
    return rows;
  }

  /** Renders all fields of a message, ordered by field number. */
  private static List<String> describeFields(Descriptor descriptor) {
    return descriptor.getFields().stream()
        .sorted(Comparator.comparingInt(FieldDescriptor::getNumber))
        .map(WireCompatibilityTest::describeField)
        .toList();
  }

  private static String describeField(FieldDescriptor f) {
    StringBuilder sb = new StringBuilder();
    sb.append(f.getName()).append(' ').append(f.getNumber()).append(' ');
    if (f.isMapField()) {
      Descriptor entry = f.getMessageType();
      sb.append("map<")
          .append(typeName(entry.findFieldByName("key")))
          .append(',')
          .append(typeName(entry.findFieldByName("value")))
          .append('>');
      return sb.toString();
    }
    sb.append(typeName(f));
    OneofDescriptor oneof = f.getRealContainingOneof();
    if (f.isRepeated()) {
      sb.append(" repeated");
    } else if (oneof != null) {
      sb.append(" oneof=").append(oneof.getName());
    } else if (f.toProto().getProto3Optional()) {
      sb.append(" optional");
    }
    return sb.toString();
  }

  private static String typeName(FieldDescriptor f) {
    return switch (f.getJavaType()) {
      case MESSAGE -> f.getMessageType().getFullName();
      case ENUM -> f.getEnumType().getFullName();
      default -> f.getType().name().toLowerCase();
    };
  }

  private static String describeMethod(MethodDescriptor m) {
    String kind;
    if (m.isClientStreaming() && m.isServerStreaming()) {
      kind = "BIDI_STREAMING";
    } else if (m.isClientStreaming()) {
      kind = "CLIENT_STREAMING";
    } else if (m.isServerStreaming()) {
      kind = "SERVER_STREAMING";
    } else {
      kind = "UNARY";
    }
    return m.getName()
        + " "
        + m.getInputType().getFullName()
        + " "
        + m.getOutputType().getFullName()
        + " "
        + kind;
  }
}
