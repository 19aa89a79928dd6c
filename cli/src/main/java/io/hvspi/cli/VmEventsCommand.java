package io.hvspi.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.core.host.HvspiHost;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.VmEvent;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;

/**
 * {@code hvctl vm events VM}: prints a VM's events as they come, until its VMM exits
 * or hvctl gets Ctrl-C or SIGTERM. It follows without the VM's lock, so the process
 * that started the VM and other hvctl commands keep working meanwhile.
 */
@Command(name = "events", header = "Follow a VM's events until its VMM exits or Ctrl-C.",
        description = "QEMU's events and hvspi's own, through a second monitor: no lock is taken, so the VM's owner"
                + " and other hvctl commands keep working. --json prints one object per line.")
final class VmEventsCommand extends VmCommand.OneVm {
    /** One compact object per line: a reader can parse each line as it comes. */
    /** Made on the first event, not when picocli builds the vm commands' model (a mapper costs a start tens of ms). */
    private static final class Line {
        static final ObjectMapper MAPPER = new ObjectMapper();
    }

    @Override
    public Integer call() {
        PrintWriter out = out();
        CountDownLatch ended = new CountDownLatch(1);
        try (HvspiHost host = global.host(); Hypervisor.Subscription events = host.follow(vmId, event -> {
            print(out, event);
            if (VmEvent.VMM_EXITED.equals(event.name())) {
                ended.countDown();
            }
        })) {
            err().println("hvctl: following the events of VM " + vmId + " until its VMM exits; Ctrl-C to stop");
            err().flush();
            // Ctrl-C or SIGTERM: end the connection and flush what was printed, then the JVM exits
            Thread onSignal = new Thread(() -> {
                events.close();
                synchronized (out) {
                    out.flush();
                }
                ended.countDown();
            }, "hvctl-events-exit");
            Runtime.getRuntime().addShutdownHook(onSignal);
            try {
                ended.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                removeHook(onSignal);
            }
        }
        return ExitCode.OK;
    }

    private static void removeHook(Thread hook) {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook runs or ran: nothing to undo
        }
    }

    private void print(PrintWriter out, VmEvent event) {
        String line = json ? jsonLine(event) : event.timestamp() + " " + event.name()
                + (event.data().isEmpty() ? "" : " " + compact(event.data()));
        synchronized (out) {
            out.println(line);
            out.flush();
        }
    }

    static String jsonLine(VmEvent event) {
        ObjectNode node = Line.MAPPER.createObjectNode().put("event", event.name())
                .put("timestamp", event.timestamp().toString());
        node.set("data", Line.MAPPER.valueToTree(event.data()));
        return compact(node);
    }

    private static String compact(Object value) {
        try {
            return Line.MAPPER.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
