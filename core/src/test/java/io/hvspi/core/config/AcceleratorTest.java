package io.hvspi.core.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AcceleratorTest {
    @TempDir
    Path dir;

    @Test
    void autoTakesTcgWhenTheKvmDeviceIsMissingAndSaysSo() {
        Accelerator.Choice c = Accelerator.choose("auto", dir.resolve("kvm"));
        assertEquals("tcg", c.accel());
        assertTrue(c.reason().contains("is missing"), c.reason());
    }

    @Test
    void autoTakesKvmWhenTheDeviceCanBeOpenedForReadingAndWriting() throws IOException {
        Path kvm = Files.createFile(dir.resolve("kvm"));
        assertEquals(new Accelerator.Choice("kvm", "auto: " + kvm + " is usable"), Accelerator.choose("auto", kvm));
    }

    @Test
    void anExplicitChoiceIsKeptWhateverTheHostHas() {
        assertEquals("kvm", Accelerator.choose("kvm", dir.resolve("kvm")).accel());
        assertEquals("tcg", Accelerator.choose("tcg", dir.resolve("kvm")).accel());
    }

    @Test
    void aKvmDeviceThisUserCannotWriteMeansTcg() throws IOException {
        Path kvm = Files.createFile(dir.resolve("kvm"), PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("r--r--r--")));
        // root may write anything: only a non-root run can see the refusal
        if (!Files.isWritable(kvm)) {
            assertEquals("tcg", Accelerator.choose("auto", kvm).accel());
        } else {
            assertEquals("kvm", Accelerator.choose("auto", kvm).accel());
        }
    }
}
