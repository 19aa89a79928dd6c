package io.hvspi.plugin.qemu;

import io.hvspi.plugin.qemu.events.EventJournal;
import io.hvspi.plugin.qemu.process.QemuProcess;
import io.hvspi.plugin.qemu.process.RuntimeLayout;
import io.hvspi.plugin.qemu.process.SocketGuard;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.plugin.qemu.qmp.VmEventAdapter;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.VmEvent;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Follows a VM's events through its second QMP monitor ({@code events.sock}), which
 * QEMU serves beside the VM owner's: a follower neither takes the VM's lock nor
 * disturbs its connection, and sends nothing but {@code qmp_capabilities}. Each
 * monitor admits one client, so one follower at a time.
 */
final class EventFollower {
    private EventFollower() {}

    static Hypervisor.Subscription follow(VmRecord record, HostContext host, Consumer<VmEvent> listener) {
        QemuState saved = QemuState.fromJson(record.pluginState());
        if (saved.endpoint()) {
            throw new HvspiException("VM '" + record.vmId() + "' runs on a QMP endpoint hvspi did not start;"
                    + " its events reach only the process that holds it");
        }
        QemuHypervisor.checkRuntimeDir(record, host);
        RuntimeLayout layout = new RuntimeLayout(record.runtimeDir());
        // a record is data: follow only a live QEMU that really is this VM's
        QemuProcess.adopt(record.pid(), layout, Optional.ofNullable(saved.qemu()), Path.of(saved.settings().binary()))
                .orElseThrow(() -> new VmmUnavailableException(Reason.EXITED, "QEMU of VM '" + record.vmId()
                        + "' (pid " + record.pid() + ") is not running"));
        Path socket = layout.eventsSocket();
        if (!Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
            throw new HvspiException("VM '" + record.vmId() + "' has no events socket " + socket
                    + " (started by an hvspi before 1.1); restart it to follow its events");
        }
        QmpClient qmp;
        try {
            qmp = SocketGuard.connect(socket, layout.dir(), "eventsSocket",
                    () -> QmpClient.connect(socket, host.commandTimeout()));
        } catch (VmmUnavailableException e) {
            throw e.reason() == Reason.TIMED_OUT
                    ? new VmmUnavailableException(Reason.TIMED_OUT, "the events of VM '" + record.vmId()
                    + "' are already followed by another client (QEMU serves one per monitor)", e)
                    : e;
        }
        QmpClient.Subscription events = qmp.subscribe(VmEventAdapter.of(listener));
        AutoCloseable journal;
        try {
            journal = EventJournal.tail(layout.eventsJournal(), listener);
        } catch (java.io.IOException e) {
            events.close();
            qmp.close();
            throw new HvspiException("cannot follow the event journal of VM '" + record.vmId() + "': "
                    + e.getMessage(), e);
        }
        return () -> {
            // the subscription first: our own close of the connection is no VMM exit
            events.close();
            qmp.close();
            try {
                journal.close();
            } catch (Exception e) {
                // a tail only reads: nothing to undo
            }
        };
    }
}
