package io.hvspi.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.NetBackend;
import io.hvspi.spi.NetDevice;
import io.hvspi.spi.VmmUnavailableException;
import java.io.PrintWriter;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * What {@code run} and {@code vm status} show of a VM: each device with the
 * threads that serve it and their host thread ids, whatever the VMM's kind of IO
 * thread (a QEMU IOThread, a Cloud Hypervisor queue thread, the main loop).
 */
final class VmView {
    /** One device and who serves its IO. */
    record DeviceRow(BlockDevice device, String servedBy, String hostTids) {}

    private VmView() {}

    static List<DeviceRow> devices(Hypervisor vm) {
        List<BlockDevice> devices = vm.hotplug().map(h -> h.list()).orElse(List.of());
        Map<String, IOThreadInfo> ioThreads = vm.ioThreads().map(p -> p.list()).orElse(List.of()).stream()
                .collect(Collectors.toMap(IOThreadInfo::id, Function.identity()));
        HostThreads threads = vm.hostThreads();
        return devices.stream().map(d -> {
            if (!d.ioThreads().isEmpty()) {
                return new DeviceRow(d, String.join(",", d.ioThreads()), d.ioThreads().stream()
                        .map(id -> tid(ioThreads.containsKey(id) ? ioThreads.get(id).hostThreadId() : OptionalLong.empty()))
                        .collect(Collectors.joining(",")));
            }
            List<HostThreads.HostThread> workers = threads.withRole(HostThreads.Role.QUEUE_WORKER).stream()
                    .filter(t -> t.owner().filter(d.id()::equals).isPresent()).toList();
            if (!workers.isEmpty()) {
                return new DeviceRow(d, workers.stream().map(HostThreads.HostThread::name).collect(Collectors.joining(",")),
                        workers.stream().map(t -> Long.toString(t.tid())).collect(Collectors.joining(",")));
            }
            String main = threads.withRole(HostThreads.Role.MAIN).stream().findFirst()
                    .map(t -> Long.toString(t.tid())).orElse("-");
            return new DeviceRow(d, "main loop", main);
        }).toList();
    }

    private static String tid(OptionalLong tid) {
        return tid.isPresent() ? Long.toString(tid.getAsLong()) : "-";
    }

    static String backend(BlockBackend backend) {
        return switch (backend) {
            case BlockBackend.HostPath p -> p.path().toString();
            case BlockBackend.Null n -> "null (" + (n.sizeBytes() >> 20) + " MiB)";
        };
    }

    /**
     * Shows what a command has just changed. When the VMM stops answering between the change
     * and the listing, the error says the change was made ({@code done}), so that nobody
     * retries it; it stays an error (the VMM is unavailable now).
     */
    static void afterChange(String done, Runnable show) {
        try {
            show.run();
        } catch (VmmUnavailableException e) {
            throw new VmmUnavailableException(e.reason(), done + ", but cannot show it: " + e.getMessage(), e);
        }
    }

    static void printDevices(PrintWriter out, List<DeviceRow> rows) {
        Table table = new Table("DEVICE", "DRIVER", "IO THREAD", "HOST TID", "ADDRESS", "QUEUES", "BACKEND");
        rows.forEach(r -> table.row(r.device().id(), r.device().driver(), r.servedBy(), r.hostTids(),
                r.device().address().orElse("-"), r.device().queues(), backend(r.device().backend())));
        table.print(out);
    }

    /** The VM's hotplugged network devices; none where the VMM has no network hotplug. */
    static List<NetDevice> nics(Hypervisor vm) {
        return vm.networkHotplug().map(n -> n.list()).orElse(List.of());
    }

    /** The host end of a NIC, e.g. {@code tap vm1-0 (made by hvspi)}. */
    static String tap(NetBackend backend) {
        return switch (backend) {
            case NetBackend.Tap t -> t.name();
        };
    }

    static boolean hvspiMade(NetBackend backend) {
        return switch (backend) {
            case NetBackend.Tap t -> t.create();
        };
    }

    static void printNics(PrintWriter out, List<NetDevice> nics) {
        Table table = new Table("NIC", "TAP", "MAC", "ADDRESS", "QUEUES", "TAP MADE BY");
        nics.forEach(n -> table.row(n.id(), tap(n.backend()), n.mac(), n.address().orElse("-"), n.queues(),
                hvspiMade(n.backend()) ? "hvspi" : "user"));
        table.print(out);
    }

    static ObjectNode json(NetDevice n) {
        ObjectNode node = Json.object().put("id", n.id()).put("tap", tap(n.backend()))
                .put("tapCreated", hvspiMade(n.backend())).put("mac", n.mac()).put("queues", n.queues());
        n.address().ifPresent(a -> node.put("address", a));
        return node;
    }

    static void printIoThreads(PrintWriter out, List<IOThreadInfo> pool) {
        Table table = new Table("IOTHREAD", "KIND", "HOST TID", "DEVICES", "POLL MAX NS", "AFFINITY", "PINNED");
        pool.forEach(t -> table.row(t.id(), t.kind().name().toLowerCase(java.util.Locale.ROOT), tid(t.hostThreadId()),
                t.devices().isEmpty() ? "-" : String.join(",", t.devices()),
                t.polling().map(p -> Long.toString(p.maxNs())).orElse("-"),
                t.affinity().map(Object::toString).orElse("-"), t.pinned().map(Object::toString).orElse("-")));
        table.print(out);
    }

    static ObjectNode json(Hypervisor vm) {
        ObjectNode doc = Json.object().put("id", vm.vmId()).put("type", vm.type()).put("state", vm.state().name())
                .put("pid", vm.hostThreads().pid());
        ArrayNode caps = doc.putArray("capabilities");
        Capabilities.sorted(vm.capabilities()).forEach(c -> caps.add(c.key()));
        ArrayNode pool = doc.putArray("iothreads");
        vm.ioThreads().ifPresent(p -> p.list().forEach(t -> {
            ObjectNode n = pool.addObject().put("id", t.id()).put("kind", t.kind().name());
            t.hostThreadId().ifPresent(tid -> n.put("hostThreadId", tid));
            ArrayNode devices = n.putArray("devices");
            t.devices().forEach(devices::add);
            t.polling().ifPresent(pp -> n.putObject("polling").put("maxNs", pp.maxNs()).put("grow", pp.grow())
                    .put("shrink", pp.shrink()));
            t.affinity().ifPresent(a -> n.put("affinity", a.toString()));
            t.pinned().ifPresent(a -> n.put("pinned", a.toString()));
        }));
        ArrayNode threads = doc.putArray("hostThreads");
        vm.hostThreads().threads().forEach(t -> {
            ObjectNode n = threads.addObject().put("tid", t.tid()).put("name", t.name()).put("role", t.role().name());
            t.owner().ifPresent(o -> n.put("owner", o));
            t.affinity().ifPresent(a -> n.put("affinity", a.toString()));
            t.cgroup().ifPresent(c -> n.put("cgroup", c));
        });
        ArrayNode devices = doc.putArray("devices");
        for (DeviceRow r : devices(vm)) {
            BlockDevice d = r.device();
            ObjectNode n = devices.addObject().put("id", d.id()).put("driver", d.driver())
                    .put("backend", backend(d.backend())).put("readOnly", d.readOnly()).put("queues", d.queues())
                    .put("servedBy", r.servedBy()).put("hostThreadIds", r.hostTids());
            d.address().ifPresent(a -> n.put("address", a));
            ArrayNode io = n.putArray("iothreads");
            d.ioThreads().forEach(io::add);
        }
        ArrayNode nics = doc.putArray("nics");
        nics(vm).forEach(n -> nics.add(json(n)));
        return doc;
    }
}
