package io.hvspi.plugin.qemu.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.hvspi.plugin.qemu.qmp.FakeQmpServer;
import io.hvspi.plugin.qemu.qmp.QemuVersion;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A QEMU executable is probed once per JVM; a file replaced in place, or an unknown one, is asked again. */
class QemuProbeCacheTest {
    @TempDir
    Path tmp;

    @Test
    void theSameExecutableIsAskedOnceAndAReplacedOneAgain() throws Exception {
        Path exe = tmp.resolve("qemu-system-x86_64");
        Files.writeString(exe, "one build");
        try (FakeQmpServer qemu = RecordedReplies.server(tmp.resolve("q.sock"), RecordedReplies.QEMU_7_2);
             QmpClient qmp = QmpClient.connect(qemu.socket(), Duration.ofSeconds(5))) {
            ProbeResult first = QemuProbe.probe(qmp, Optional.of(exe));
            assertEquals(new QemuVersion(7, 2, 22), first.version());
            assertSame(first, QemuProbe.probe(qmp, Optional.of(exe)));
            assertEquals(1, qemu.argumentsOf("device-list-properties").size(), "asked once");

            // a package upgrade writes a new file and renames it over the old one
            Path upgrade = tmp.resolve("upgrade");
            Files.writeString(upgrade, "another build");
            Files.move(upgrade, exe, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            QemuProbe.probe(qmp, Optional.of(exe));
            assertEquals(2, qemu.argumentsOf("device-list-properties").size(), "a new file is asked again");

            QemuProbe.probe(qmp, Optional.empty());
            QemuProbe.probe(qmp, Optional.of(tmp.resolve("gone")));
            assertEquals(4, qemu.argumentsOf("device-list-properties").size(),
                    "a QEMU whose executable is unknown or unreadable is always asked");
            assertEquals(4, qemu.argumentsOf("query-version").size());
        }
    }
}
