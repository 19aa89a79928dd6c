package io.hvspi.plugin.dragonball;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.HostThreads.Role;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.VmEvent;
import io.hvspi.spi.VmSpec;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.sim.dragonball.DragonballBridgeSimulator;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The plugin starting its own bridge sidecar from {@code [hypervisor.dragonball] path}:
 * here the simulator run as a separate JVM through a small launcher script.
 */
class DragonballSidecarTest {
    /** A JVM has to start: give the sidecar time on a loaded 2-core machine. */
    private static final Duration SPAWN_TIMEOUT = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    private Path launcher;
    private DefaultHostContext host;
    private Hypervisor vm;

    @BeforeEach
    void writeLauncher() throws IOException {
        String java = ProcessHandle.current().info().command().orElseThrow();
        String classpath = Stream.of(DragonballBridgeSimulator.class, ObjectMapper.class, JsonParser.class,
                        com.fasterxml.jackson.annotation.JsonProperty.class, org.slf4j.LoggerFactory.class)
                .map(c -> c.getProtectionDomain().getCodeSource().getLocation().getPath())
                .distinct().collect(Collectors.joining(File.pathSeparator));
        launcher = dir.resolve("dragonball-bridge");
        Files.writeString(launcher, "#!/bin/sh\nexec '" + java + "' -Xshare:auto -XX:TieredStopAtLevel=1 -cp '"
                + classpath + "' " + DragonballBridgeSimulator.class.getName() + " \"$@\"\n");
        Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwx------"));
        host = TestVms.hostWithoutEndpoint(dir.resolve("run"), SPAWN_TIMEOUT);
    }

    @AfterEach
    void tearDown() {
        TestVms.stopQuietly(vm);
    }

    private VmSpec spec() {
        VmSpec base = TestVms.spec("side", TestVms.kernel(dir));
        return base.toBuilder().binary(launcher).image(Optional.empty()).vcpus(1).memoryMib(256).build();
    }

    @Test
    void aSpawnedSidecarHostsTheVmAndStopEndsIt() {
        vm = new DragonballHypervisorFactory().create(spec(), host);
        vm.start();
        long pid = host.stateStore().load("side").orElseThrow().pid();
        assertNotEquals(ProcessHandle.current().pid(), pid);
        Path socket = host.runtimeRoot().resolve("side").resolve("dragonball-bridge.sock");
        assertTrue(Files.exists(socket), "the sidecar's socket is in the VM's private runtime directory");

        vm.requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build());
        HostThreads threads = vm.hostThreads();
        assertEquals(pid, threads.pid(), "threads are the sidecar's");
        assertEquals(1, threads.withRole(Role.QUEUE_WORKER).size());
        assertEquals(1, threads.withRole(Role.VCPU).size());

        ProcessHandle sidecar = ProcessHandle.of(pid).orElseThrow();
        vm.stop();
        assertFalse(sidecar.isAlive(), "stop waits for the sidecar to exit");
        assertFalse(Files.exists(host.runtimeRoot().resolve("side")));
    }

    @Test
    void aKilledSidecarIsReportedAndStopStillCleansUp() throws Exception {
        vm = new DragonballHypervisorFactory().create(spec(), host);
        vm.start();
        BlockingQueue<VmEvent> events = new LinkedBlockingQueue<>();
        vm.subscribe(events::add);
        ProcessHandle sidecar = ProcessHandle.of(host.stateStore().load("side").orElseThrow().pid()).orElseThrow();
        sidecar.destroyForcibly();
        sidecar.onExit().get(10, TimeUnit.SECONDS);
        assertEquals(VmEvent.VMM_EXITED, events.poll(10, TimeUnit.SECONDS).name());
        assertThrows(VmmUnavailableException.class, vm::pause);
        vm.stop();
        assertTrue(host.stateStore().load("side").isEmpty());
    }

    @Test
    void aSidecarThatExitsAtOnceFailsTheStartWithItsStatus() throws IOException {
        Files.writeString(launcher, "#!/bin/sh\necho 'no KVM here' >&2\nexit 3\n");
        vm = new DragonballHypervisorFactory().create(spec(), host);
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, vm::start);
        assertEquals(VmmUnavailableException.Reason.EXITED, e.reason());
        assertTrue(e.getMessage().contains("exited with status 3"), e.getMessage());
        assertFalse(Files.exists(host.runtimeRoot().resolve("side")), "nothing left behind");
    }
}
