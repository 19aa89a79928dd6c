package io.hvspi.tck;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hvspi.spi.Capability;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.CpuSet;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.NetDeviceSpec;
import io.hvspi.spi.RequestRejectedException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/** Start, pause, resume, stop, state, host threads and reattach. */
@Contract(value = "lifecycle", title = "Lifecycle")
public abstract class LifecycleContract extends ContractBase {

    protected LifecycleContract(TckKit kit) {
        super(kit);
    }

    @Test
    @Order(1)
    @DisplayName("create starts nothing and records nothing")
    void createStartsNothing() {
        Hypervisor vm = kit.createVm(1, IOThreadPolicy.LEAST_LOADED);
        assertEquals(VmState.CREATED, vm.state());
        assertEquals(kit.type(), vm.type());
        assertTrue(kit.backend().host(vm.vmId()).stateStore().load(vm.vmId()).isEmpty(),
                "create must not record the VM; start does");
    }

    @Test
    @Order(2)
    @DisplayName("start runs the VM (paused without a guest) and records it")
    void startRunsTheVmAndRecordsIt() throws IOException {
        Hypervisor vm = kit.createVm(1, IOThreadPolicy.LEAST_LOADED);
        vm.start();
        assertTrue(Set.of(VmState.RUNNING, VmState.PAUSED).contains(vm.state()),
                () -> "after start the VM must be RUNNING or PAUSED, was " + vm.state());
        VmRecord record = kit.backend().host(vm.vmId()).stateStore().load(vm.vmId())
                .orElseThrow(() -> new AssertionError("start must record the VM in the host's state store"));
        assertEquals(vm.vmId(), record.vmId());
        assertEquals(kit.type(), record.hypervisorType());
        assertTrue(Files.isDirectory(record.runtimeDir()), () -> "runtime dir " + record.runtimeDir() + " missing");
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(record.runtimeDir())),
                "the VM's runtime directory must be private (0700)");
        if (record.pid() > 0) {
            assertEquals(record.pid(), vm.hostThreads().pid(), "the record and hostThreads() must name the same pid");
        }
    }

    @Test
    @Order(3)
    @DisplayName("pause and resume move between PAUSED and RUNNING")
    void pauseAndResumeChangeTheState() {
        Hypervisor vm = kit.startVm();
        vm.pause();
        assertEquals(VmState.PAUSED, vm.state());
        vm.resume();
        assertEquals(VmState.RUNNING, vm.state());
        vm.pause();
        assertEquals(VmState.PAUSED, vm.state());
    }

    @Test
    @Order(4)
    @DisplayName("stop ends the VMM, removes its directory and record, and is idempotent")
    void stopEndsTheVmAndForgetsIt() {
        Hypervisor vm = kit.startVm();
        VmRecord record = kit.backend().host(vm.vmId()).stateStore().load(vm.vmId()).orElseThrow();
        long pid = vm.hostThreads().pid();
        vm.stop();
        assertEquals(VmState.STOPPED, vm.state());
        assertTrue(kit.backend().host(vm.vmId()).stateStore().load(vm.vmId()).isEmpty(),
                "stop must remove the VM's state record");
        assertFalse(Files.exists(record.runtimeDir()), () -> "stop must remove " + record.runtimeDir());
        vm.stop();
        assertEquals(VmState.STOPPED, vm.state(), "a second stop changes nothing");
        if (kit.backend().realHostThreads() && pid > 0 && pid != ProcessHandle.current().pid()) {
            assertTrue(HostProc.await(() -> ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true), THREAD_WAIT),
                    () -> "VMM process " + pid + " still runs after stop");
        }
    }

    @Test
    @Order(5)
    @DisplayName("a second start is refused and the VM keeps its state")
    void secondStartIsRefused() {
        Hypervisor vm = kit.startVm();
        VmState before = vm.state();
        HvspiException e = assertThrows(HvspiException.class, vm::start, "starting a started VM must fail");
        assertOneLine(e);
        assertEquals(before, vm.state());
    }

    @Test
    @Order(6)
    @DisplayName("host threads are the VMM's own, with real ids and names")
    void hostThreadsAreReal() {
        Hypervisor vm = kit.startVm();
        HostThreads threads = vm.hostThreads();
        assertTrue(threads.pid() > 0, () -> "the VMM's pid must be positive, got " + threads.pid());
        assertFalse(threads.threads().isEmpty(), "hostThreads() must list at least the VMM's main thread");
        Set<Long> seen = new HashSet<>();
        for (HostThreads.HostThread t : threads.threads()) {
            assertTrue(seen.add(t.tid()), () -> "thread " + t.tid() + " is listed twice");
            assertFalse(t.name().isBlank(), () -> "thread " + t.tid() + " has no name");
            assertRealName(threads.pid(), t);
        }
    }

    @Test
    @Order(7)
    @DisplayName("close leaves the VM running; reattach from its record sees the same VM")
    void reattachSeesTheSameVm() {
        Hypervisor vm = kit.startVm(2, IOThreadPolicy.LEAST_LOADED);
        boolean hotplug = vm.supports(Capability.BLOCK_DEVICE_HOTPLUG);
        boolean pool = vm.supports(Capability.INDEPENDENT_IOTHREADS);
        if (hotplug) {
            hotplug(vm).attach(disk(vm, "tck-keep").build());
        }
        VmState state = vm.state();
        Set<Capability> capabilities = vm.capabilities();
        var devices = hotplug ? deviceIds(vm) : null;
        var ioThreads = pool ? poolIds(vm) : null;

        kit.disconnect(vm);
        Hypervisor again = kit.reattach(vm);
        assertEquals(vm.vmId(), again.vmId());
        assertEquals(kit.type(), again.type());
        assertEquals(state, again.state(), "the reattached VM must be in the state it was left in");
        assertEquals(capabilities, again.capabilities());
        if (hotplug) {
            assertEquals(devices, deviceIds(again), "the reattached VM must list the same devices");
        }
        if (pool) {
            assertEquals(ioThreads, poolIds(again), "the reattached VM must list the same IOThreads");
        }
    }

    @Test
    @Order(8)
    @DisplayName("after stop the VM is gone for real: its saved record cannot be reattached")
    void stopEndsTheVmmForReal() {
        Hypervisor vm = kit.startVm();
        VmRecord saved = kit.record(vm);
        vm.stop();
        // on every backend, simulators too: a VMM that still answers after stop was not stopped
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, () -> kit.reattach(saved),
                () -> "reattaching VM '" + saved.vmId() + "' through the record saved before stop must fail with "
                        + "VmmUnavailableException: stop must end the VMM, not only forget it");
        assertOneLine(e);
    }

    @Test
    @Order(9)
    @DisplayName("reattach keeps everything: devices, NICs, IOThreads (with their load and pins) and the pool's rules")
    void reattachKeepsEverything() {
        Hypervisor vm = kit.startVm(3, IOThreadPolicy.LEAST_LOADED);
        boolean hotplug = vm.supports(Capability.BLOCK_DEVICE_HOTPLUG);
        boolean pool = vm.supports(Capability.INDEPENDENT_IOTHREADS);
        boolean nics = vm.supports(Capability.NETWORK_DEVICE_HOTPLUG)
                && kit.backend().skipReason(Capability.NETWORK_DEVICE_HOTPLUG, vm).isEmpty();
        boolean pinning = vm.supports(Capability.IOTHREAD_PINNING);
        assumeTrue(hotplug || pool || nics, "the VM has no devices or IOThreads to keep; reattachSeesTheSameVm covers it");
        List<String> ids = pool ? poolIds(vm) : List.of();
        String busy = null;
        if (hotplug) {
            BlockDeviceSpec.Builder spec = disk(vm, "tck-keep");
            if (pool) {
                busy = ids.get(1);
                spec.ioThread(IOThreadChoice.named(busy));
            }
            hotplug(vm).attach(spec.build());
        }
        if (nics) {
            TckKit.assumeViewFollows(vm, Capability.NETWORK_DEVICE_HOTPLUG);
            vm.requireNetworkHotplug().attach(NetDeviceSpec.of("tck-keepn",
                    kit.backend().tap(NetworkHotplugContract.tapName())).withMac("0a:12:34:56:78:9b"));
        }
        CpuSet last = CpuSet.of(Runtime.getRuntime().availableProcessors() - 1);
        if (pinning) {
            pool(vm).pin(ids.get(2), last);
        }
        var devices = hotplug ? hotplug(vm).list() : null;
        var netDevices = nics ? vm.requireNetworkHotplug().list() : null;
        var ioThreads = pool ? withoutLiveReadings(pool(vm).list()) : null;

        kit.disconnect(vm);
        Hypervisor again = kit.reattach(vm);
        if (hotplug) {
            assertEquals(devices, hotplug(again).list(), "the reattached VM must list the same block devices, "
                    + "each as it was (IOThreads, queues, read-only, address)");
        }
        if (nics) {
            TckKit.assumeViewFollows(again, Capability.NETWORK_DEVICE_HOTPLUG);
            assertEquals(netDevices, again.requireNetworkHotplug().list(),
                    "the reattached VM must list the same network devices, each as it was (MAC, host end, queues)");
        }
        if (pool) {
            assertEquals(ioThreads, withoutLiveReadings(pool(again).list()), "the reattached VM must list the same "
                    + "IOThreads, each as it was (host thread, devices, polling, pin)");
            assertEquals(pool(vm).policy(), pool(again).policy(), "the reattached pool keeps its policy");
        }
        if (pinning && kit.backend().realHostThreads()) {
            assertEquals(Optional.of(last), thread(again, ids.get(2)).affinity(),
                    "the pinned IOThread still runs where it was pinned, as the kernel reports it");
        }
        if (busy != null && again.supports(Capability.IOTHREAD_RUNTIME_ADD)) {
            String inUse = busy;
            assertRejected(RequestRejectedException.Reason.IN_USE, () -> pool(again).remove(inUse),
                    "removing IOThread '" + inUse + "', in use by a device attached before the reattach");
        }
    }

    /**
     * An IOThread as the comparison across a reattach sees it: {@link IOThreadInfo#affinity()} is read
     * from the kernel on every listing, never remembered, so it is checked on its own (where the kit
     * can see real threads); everything else (id, kind, host thread, devices, polling, pin) must be kept.
     */
    private static List<IOThreadInfo> withoutLiveReadings(List<IOThreadInfo> threads) {
        return threads.stream().map(t -> new IOThreadInfo(t.id(), t.kind(), t.hostThreadId(), t.devices(), t.polling(),
                Optional.empty(), t.pinned())).toList();
    }

    @Test
    @Order(10)
    @DisplayName("close never throws: twice, after stop, on a VM only created")
    void closeNeverThrows() {
        Hypervisor created = kit.createVm(1, IOThreadPolicy.LEAST_LOADED);
        assertDoesNotThrow(() -> kit.disconnect(created), "close of a VM only created");
        assertDoesNotThrow(created::close, "a second close of a VM only created");

        Hypervisor running = kit.startVm();
        VmState before = running.state();
        VmRecord record = kit.record(running);
        assertDoesNotThrow(() -> kit.disconnect(running), "close of a running VM");
        assertDoesNotThrow(running::close, "a second close of a running VM");
        Hypervisor again = kit.reattach(record);
        assertEquals(before, again.state(), "close only disconnects: the VM runs on");

        Hypervisor stopped = kit.startVm();
        stopped.stop();
        assertDoesNotThrow(stopped::close, "close after stop");
        assertDoesNotThrow(stopped::close, "a second close after stop");
    }
}
