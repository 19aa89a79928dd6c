package io.hvspi.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The machine's QEMU (7.2 on Debian 12, 10.0 on Debian 13), asked with {@code --version}. */
final class InstalledQemu {
    private static final Pattern VERSION = Pattern.compile("QEMU emulator version (\\d+\\.\\d+)\\.");

    private InstalledQemu() {}

    /** True when the installed QEMU is {@code major.minor} or newer. */
    static boolean atLeast(int major, int minor) {
        String[] v = majorMinor().split("\\.");
        int haveMajor = Integer.parseInt(v[0]);
        return haveMajor > major || (haveMajor == major && Integer.parseInt(v[1]) >= minor);
    }

    /** {@code major.minor}, e.g. {@code 7.2}, for asserting what hvctl reports about the machine. */
    static String majorMinor() {
        try {
            Process p = new ProcessBuilder("qemu-system-x86_64", "--version").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor();
            Matcher m = VERSION.matcher(out);
            if (!m.find()) {
                throw new IllegalStateException("qemu-system-x86_64 --version printed no version: " + out);
            }
            return m.group(1);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
