package io.hvspi.plugin.qemu;

import io.hvspi.plugin.qemu.qmp.QemuVersion;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;

/**
 * One of the two real QEMUs the tests run on: the system's ({@link #system()}; 7.2 on
 * Debian 12, 10.0 on Debian 13) and the other Debian release's ({@link #other()}), which
 * {@code scripts/other-qemu.sh} makes in the user cache directory and runs through a
 * chroot wrapper. Tests of version-dependent behaviour run on both.
 */
public record QemuBinary(Path path, QemuVersion version) {
    private static final Pattern VERSION = Pattern.compile("QEMU emulator version (\\d+)\\.(\\d+)\\.(\\d+)");
    private static QemuBinary system;
    private static QemuBinary other;
    private static String otherUnavailable;

    /** Debian's QEMU at {@link TestVms#QEMU}. */
    public static synchronized QemuBinary system() {
        if (system == null) {
            system = new QemuBinary(TestVms.QEMU, versionOf(TestVms.QEMU));
        }
        return system;
    }

    /**
     * The other Debian release's QEMU, made (or found in the cache) by {@code scripts/other-qemu.sh}.
     * When it cannot be made here (not root, no network), the calling test is skipped with the
     * script's reason; under {@code CI=true} it fails instead, so CI never passes on one QEMU.
     */
    public static synchronized QemuBinary other() {
        if (other == null && otherUnavailable == null) {
            try {
                Path wrapper = runScript();
                other = new QemuBinary(wrapper, versionOf(wrapper));
            } catch (IllegalStateException e) {
                otherUnavailable = e.getMessage();
            }
        }
        if (other == null) {
            String reason = "the other QEMU is unavailable: " + otherUnavailable;
            if ("true".equals(System.getenv("CI"))) {
                throw new AssertionError(reason + " (CI=true: the tests must run on both QEMUs)");
            }
            Assumptions.abort(reason);
        }
        return other;
    }

    /** True when this QEMU has {@code iothread-vq-mapping} (9.0 and later). */
    public boolean hasVqMapping() {
        return version.atLeast(9, 0);
    }

    @Override
    public String toString() {
        return "QEMU " + version + " (" + path + ")";
    }

    private static Path runScript() {
        Path script = projectRoot().resolve("scripts/other-qemu.sh");
        try {
            Process p = new ProcessBuilder(List.of(script.toString())).redirectError(ProcessBuilder.Redirect.PIPE)
                    .start();
            // the first run makes a root with debootstrap: about a minute on a fast mirror
            if (!p.waitFor(15, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new IllegalStateException(script + " took more than 15 minutes");
            }
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (p.exitValue() != 0) {
                throw new IllegalStateException(err.isEmpty() ? script + " exited " + p.exitValue()
                        : err.lines().reduce((a, b) -> b).orElseThrow());
            }
            return Path.of(out.lines().reduce((a, b) -> b).orElseThrow());
        } catch (IOException e) {
            throw new IllegalStateException(script + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(script + " interrupted", e);
        }
    }

    private static Path projectRoot() {
        String root = System.getProperty("hvspi.projectRoot");
        if (root != null && Files.isDirectory(Path.of(root, "scripts"))) {
            return Path.of(root);
        }
        // an IDE run: the module directory is the working directory
        return Path.of("").toAbsolutePath().getParent().getParent();
    }

    /** The version {@code --version} prints (not hvspi's probe, which the tests check against it). */
    static QemuVersion versionOf(Path binary) {
        try {
            Process p = new ProcessBuilder(binary.toString(), "--version").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor();
            Matcher m = VERSION.matcher(out);
            if (!m.find()) {
                throw new IllegalStateException(binary + " --version printed no version: " + out);
            }
            return new QemuVersion(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)),
                    Integer.parseInt(m.group(3)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
