package io.hvspi.plugin.dragonball;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.kit.threads.ProcTasks;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.HostThreads.HostThread;
import io.hvspi.spi.HostThreads.Role;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns the bridge's {@code ListThreads} answer into {@link HostThreads}, checked
 * against {@code /proc/<pid>/task}: a thread the host does not show is dropped, and
 * the name is the host's {@code comm}. Roles come from Dragonball's thread names.
 */
final class HostThreadReader {
    private static final Pattern VCPU = Pattern.compile("db_vcpu(\\d+)");
    private static final Pattern QUEUE = Pattern.compile("blk_iothread_q(\\d+)");

    private final ProcTasks proc;

    HostThreadReader(ProcTasks proc) {
        this.proc = proc;
    }

    HostThreads read(JsonNode listThreads) {
        long pid = listThreads.path("pid").asLong();
        // Where the bridge runs in another pid namespace the host view is missing; trust the bridge then.
        boolean hostView = proc.visible(pid);
        List<HostThread> threads = new ArrayList<>();
        for (JsonNode t : listThreads.path("threads")) {
            long tid = t.path("tid").asLong();
            String name = t.path("name").asText();
            if (hostView) {
                Optional<String> comm = proc.comm(pid, tid);
                if (comm.isEmpty()) {
                    continue;
                }
                name = comm.get();
            }
            JsonNode drive = t.path("drive_id");
            threads.add(classify(tid, name, drive.isTextual() ? Optional.of(drive.textValue()) : Optional.empty()));
        }
        return new HostThreads(pid, threads);
    }

    /** @param drive the drive a queue thread serves, when the bridge could tell */
    static HostThread classify(long tid, String name, Optional<String> drive) {
        if (name.equals("vmm_master")) {
            return new HostThread(tid, name, Role.MAIN, Optional.empty());
        }
        Matcher vcpu = VCPU.matcher(name);
        if (vcpu.matches()) {
            return new HostThread(tid, name, Role.VCPU, Optional.of(vcpu.group(1)));
        }
        if (QUEUE.matcher(name).matches()) {
            // Every drive names its queue threads blk_iothread_q<i>: only the bridge can tell which drive.
            return new HostThread(tid, name, Role.QUEUE_WORKER, drive);
        }
        return new HostThread(tid, name, Role.OTHER, Optional.empty());
    }
}
