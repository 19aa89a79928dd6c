package io.hvspi.core.state;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hvspi.spi.HvspiException;
import io.hvspi.spi.VmRecord;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The runtime root, VM directories and records are private to the user that
 * runs hvspi: exact modes whatever the umask, and nothing planted by another
 * user (a symbolic link, a directory or a file of theirs) is followed or trusted.
 * Tests that need a second user chown to {@code nobody} (65534) and run only as root.
 */
class PrivateStateTest {
    static final int NOBODY = 65534;

    @TempDir
    Path tmp;
    Path root;
    Path elsewhere;

    @BeforeEach
    void dirs() throws Exception {
        root = tmp.resolve("run");
        elsewhere = Files.createDirectory(tmp.resolve("elsewhere"));
    }

    private DefaultHostContext host() {
        return new DefaultHostContext(root, Duration.ofSeconds(1), Map.of());
    }

    private static VmRecord record(String vmId, Path dir) {
        return new VmRecord(vmId, "qemu", 4242, dir, Instant.parse("2026-11-29T06:00:00Z"), "{\"qmp\":\"q.sock\"}");
    }

    private static String mode(Path p) throws Exception {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS));
    }

    private static void assertRefused(String fragment, org.junit.jupiter.api.function.Executable op) {
        HvspiException e = assertThrows(HvspiException.class, op);
        assertTrue(e.getMessage().contains(fragment), e.getMessage());
    }

    // ---- modes

    /**
     * The JVM's umask cannot be changed from a test; what can be checked is that
     * every path hvspi creates gets its mode set exactly, so a permissive umask
     * (0000) cannot widen it and a wider mode left from before is narrowed.
     */
    @Test
    void everyDirectoryAndFileHvspiMakesHasAnExactPrivateMode() throws Exception {
        Files.createDirectories(root);
        Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwxrwxrwx"));
        DefaultHostContext host = host();
        assertEquals("rwx------", mode(host.runtimeRoot()));

        Path vmDir = host.createRuntimeDir("vm1");
        assertEquals("rwx------", mode(vmDir));
        host.stateStore().save(record("vm1", vmDir));
        assertEquals("rw-------", mode(vmDir.resolve("vm.json")));

        // a VM directory left wide by an earlier run is narrowed before a record goes in
        Path vm2 = Files.createDirectory(root.resolve("vm2"));
        Files.setPosixFilePermissions(vm2, PosixFilePermissions.fromString("rwxrwxrwx"));
        host.stateStore().save(record("vm2", vm2));
        assertEquals("rwx------", mode(vm2));
        assertEquals("rw-------", mode(vm2.resolve("vm.json")));
    }

    @Test
    void missingParentsOfAPrivateDirectoryGetNoGroupOrOtherAccess() throws Exception {
        Path deep = RuntimeDirs.createPrivate(tmp.resolve("a/b/c"));
        assertEquals("rwx------", mode(deep));
        Set<PosixFilePermission> groupOrOther = Set.of(PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE,
                PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE,
                PosixFilePermission.OTHERS_EXECUTE);
        for (Path p : List.of(tmp.resolve("a"), tmp.resolve("a/b"))) {
            assertTrue(Files.getPosixFilePermissions(p).stream().noneMatch(groupOrOther::contains), p.toString());
        }
    }

    @Test
    void removeRuntimeDirRemovesTheVmsTreeButNeverALinksTarget() throws Exception {
        DefaultHostContext host = host();
        Path vmDir = host.createRuntimeDir("vm1");
        Files.writeString(Files.createDirectory(vmDir.resolve("sub")).resolve("log"), "x");
        Files.writeString(elsewhere.resolve("keep"), "x");
        Files.createSymbolicLink(vmDir.resolve("out"), elsewhere);
        host.removeRuntimeDir("vm1");
        assertFalse(Files.exists(vmDir, LinkOption.NOFOLLOW_LINKS));
        assertTrue(Files.exists(elsewhere.resolve("keep")));
        host.removeRuntimeDir("vm1"); // gone already: nothing to do
        assertRefused("VM id", () -> host.removeRuntimeDir("../elsewhere"));
        assertTrue(Files.exists(elsewhere.resolve("keep")));
    }

    // ---- the runtime root

    @Test
    void aRuntimeRootThatIsASymbolicLinkIsRefused() throws Exception {
        Files.setPosixFilePermissions(elsewhere, PosixFilePermissions.fromString("rwxrwxrwx"));
        Files.createSymbolicLink(root, elsewhere);
        assertRefused("it is a symbolic link to " + elsewhere, this::host);
        assertEquals("rwxrwxrwx", mode(elsewhere), "the link's target keeps its mode");
        try (Stream<Path> files = Files.list(elsewhere)) {
            assertEquals(0, files.count());
        }
    }

    /**
     * A runtime root someone else uses is never made 0700 under them: a sticky directory (/tmp), or
     * one holding anything hvspi does not make there (/run); one holding only hvspi's is narrowed.
     */
    @Test
    void aSharedDirectoryGivenAsTheRuntimeRootIsRefusedAndKeepsItsMode() throws Exception {
        Files.createDirectories(root);
        Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwxrwxrwx"));
        Files.setAttribute(root, "unix:mode", 01777);
        HvspiException sticky = assertThrows(HvspiException.class, this::host);
        assertEquals("refusing runtime root " + root + ": it is mode 1777 (shared); hvspi makes only a directory"
                + " of its own private (0700): give it one, e.g. " + root.resolve("hvspi"), sticky.getMessage());
        assertEquals(01777, (Integer) Files.getAttribute(root, "unix:mode") & 07777);

        Files.setAttribute(root, "unix:mode", 0755);
        Files.writeString(root.resolve("utmp"), "another program's");
        assertRefused("it is mode 0755 and holds 'utmp', which hvspi did not make", this::host);
        assertEquals("rwxr-xr-x", mode(root));

        Files.delete(root.resolve("utmp"));
        Files.createDirectories(root.resolve("systemd")); // named like a VM, but 0755: another program's
        assertRefused("it is mode 0755 and holds 'systemd', which hvspi did not make", this::host);
        Files.delete(root.resolve("systemd"));
        for (String hvspis : List.of("vm1", ".locks", ".vm2.sim")) {
            Files.createDirectories(root.resolve(hvspis), PosixFilePermissions.asFileAttribute(
                    PosixFilePermissions.fromString("rwx------")));
        }
        assertEquals("rwx------", mode(host().runtimeRoot()), "a root holding only hvspi's is narrowed");
    }

    @Test
    void aRuntimeRootThatIsAFileIsRefused() throws Exception {
        Files.writeString(root, "x");
        assertRefused("it is not a directory", this::host);
    }

    @Test
    void aRuntimeRootMadeFirstByAnotherUserIsRefused() throws Exception {
        assumeTrue(RuntimeDirs.currentUid() == 0, "needs root to give a directory to another user");
        Files.createDirectory(root);
        Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwxrwxrwx"));
        Files.setAttribute(root, "unix:uid", NOBODY);
        assertRefused("it belongs to uid 65534, not to this process's user (uid 0)", this::host);
        assertEquals("rwxrwxrwx", mode(root), "root may chmod it, but hvspi does not take it over");
    }

    // ---- VM directories

    @Test
    void aVmDirectoryPlantedAsASymbolicLinkIsNeitherWrittenNorReadNorListed() throws Exception {
        Files.createDirectory(root); // a host makes its root only when it writes there
        DefaultHostContext host = host();
        Files.writeString(elsewhere.resolve("vm.json"), "{\"vmId\":\"vm1\"}");
        Files.createSymbolicLink(root.resolve("vm1"), elsewhere);

        assertRefused("it is a symbolic link to " + elsewhere, () -> host.stateStore().save(record("vm1", elsewhere)));
        assertRefused("it is a symbolic link", () -> host.stateStore().load("vm1"));
        assertRefused("it is a symbolic link", () -> host.stateStore().remove("vm1"));
        assertEquals(List.of(), host.stateStore().list());
        assertEquals("{\"vmId\":\"vm1\"}", Files.readString(elsewhere.resolve("vm.json")), "the target is untouched");
        try (Stream<Path> files = Files.list(elsewhere)) {
            assertEquals(1, files.count());
        }
    }

    @Test
    void listSkipsStrangeEntriesAndStillListsTheRealRecords() throws Exception {
        DefaultHostContext host = host();
        host.stateStore().save(record("vm1", host.createRuntimeDir("vm1")));
        Files.createSymbolicLink(root.resolve("vm2"), elsewhere);
        Files.createDirectory(root.resolve(".hidden"));
        Files.writeString(root.resolve("stray-file"), "x");
        assertEquals(List.of("vm1"), host.stateStore().list().stream().map(VmRecord::vmId).toList());
    }

    @Test
    void aVmDirectoryOfAnotherUserIsRefused() throws Exception {
        assumeTrue(RuntimeDirs.currentUid() == 0, "needs root to give a directory to another user");
        DefaultHostContext host = host();
        Path vm1 = host.createRuntimeDir("vm1");
        host.stateStore().save(record("vm1", vm1));
        Files.setAttribute(vm1, "unix:uid", NOBODY);
        assertRefused("it belongs to uid 65534", () -> host.stateStore().load("vm1"));
        assertRefused("it belongs to uid 65534", () -> host.stateStore().save(record("vm1", vm1)));
        assertEquals(List.of(), host.stateStore().list());
    }

    // ---- records

    @Test
    void aRecordPlantedAsASymbolicLinkIsNotFollowed() throws Exception {
        DefaultHostContext host = host();
        Path vm1 = host.createRuntimeDir("vm1");
        Path forged = elsewhere.resolve("forged.json");
        Files.writeString(forged, "{\"vmId\":\"vm1\",\"hypervisorType\":\"qemu\",\"pid\":1,\"runtimeDir\":\"/\","
                + "\"createdAt\":\"2026-11-29T06:00:00Z\",\"pluginState\":{}}");
        Files.createSymbolicLink(vm1.resolve("vm.json"), forged);

        assertRefused("refusing VM record " + vm1.resolve("vm.json") + ": it is a symbolic link",
                () -> host.stateStore().load("vm1"));
        // saving renames a new file over the link: the link goes, its target stays as it was
        host.stateStore().save(record("vm1", vm1));
        assertFalse(Files.isSymbolicLink(vm1.resolve("vm.json")));
        assertEquals(4242, host.stateStore().load("vm1").orElseThrow().pid());
        assertTrue(Files.readString(forged).contains("\"pid\":1,"));
        // removing removes a link, never its target
        Files.delete(vm1.resolve("vm.json"));
        Files.createSymbolicLink(vm1.resolve("vm.json"), forged);
        host.stateStore().remove("vm1");
        assertTrue(Files.exists(forged));
    }

    @Test
    void aRecordOfAnotherUserIsRefused() throws Exception {
        assumeTrue(RuntimeDirs.currentUid() == 0, "needs root to give a file to another user");
        DefaultHostContext host = host();
        Path vm1 = host.createRuntimeDir("vm1");
        host.stateStore().save(record("vm1", vm1));
        Files.setAttribute(vm1.resolve("vm.json"), "unix:uid", NOBODY);
        assertRefused("it belongs to uid 65534", () -> host.stateStore().load("vm1"));
    }
}
