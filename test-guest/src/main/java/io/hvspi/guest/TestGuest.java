package io.hvspi.guest;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The hvspi test guest: a Debian kernel and a busybox initramfs with the virtio-blk
 * modules and fio, whose {@code /init} speaks the HVSPI line protocol on ttyS0
 * (docs/test-guest.md). {@code scripts/build-guest.sh} builds it into a cache in the
 * user cache directory (outside the checkout, so {@code mvn clean} and every worktree
 * share it); this class runs the script when the cache is cold and hands out the paths.
 *
 * @param kernel the kernel image (bzImage)
 * @param initrd the initramfs (gzip-compressed cpio)
 * @param kernelVersion the guest's {@code uname -r}, e.g. {@code 6.1.0-56-amd64}
 */
public record TestGuest(Path kernel, Path initrd, String kernelVersion) {
    /** The builder script, relative to the repository root. */
    public static final String SCRIPT = "scripts/build-guest.sh";

    /**
     * Kernel parameters the guest needs: its console on the first serial port, and a
     * panic that ends the VM at once (with QEMU's {@code -no-reboot}) instead of a hang.
     */
    public static final String KERNEL_PARAMS = "console=ttyS0 panic=-1 quiet";

    /** The chardev id {@link #qemuArgs} gives the console. */
    public static final String CONSOLE_CHARDEV = "hvspi-console";

    private static final Logger LOG = LoggerFactory.getLogger(TestGuest.class);
    private static final Duration BUILD_TIMEOUT = Duration.ofMinutes(15);
    private static final int EXIT_STALE = 1;
    private static final int EXIT_MISSING_PACKAGES = 2;
    private static final ConcurrentMap<Path, TestGuest> BUILT = new ConcurrentHashMap<>();

    public TestGuest {
        Objects.requireNonNull(kernel, "kernel");
        Objects.requireNonNull(initrd, "initrd");
        Objects.requireNonNull(kernelVersion, "kernelVersion");
    }

    /**
     * The guest in the {@linkplain #defaultCache() default cache}, built if the cache is
     * cold; checked once per JVM.
     *
     * @throws GuestException if it cannot be built, e.g. a Debian package is missing
     */
    public static TestGuest get() {
        Path repo = repoRoot();
        return BUILT.computeIfAbsent(defaultCache(), cache -> build(repo, cache));
    }

    /**
     * Checks the cache in {@code cacheDir} and builds the guest there if it is cold.
     *
     * @throws GuestException if it cannot be built, e.g. a Debian package is missing
     */
    public static TestGuest build(Path repoRoot, Path cacheDir) {
        Run check = run(repoRoot, cacheDir, true);
        if (check.exitCode() == 0) {
            return check.guest(cacheDir);
        }
        LOG.info("building the test guest in {} (first use, or its Debian packages changed)", cacheDir);
        Run build = run(repoRoot, cacheDir, false);
        if (build.exitCode() != 0) {
            throw build.failure(cacheDir);
        }
        return build.guest(cacheDir);
    }

    /**
     * Whether the cache in {@code cacheDir} holds an up-to-date guest (its stamp matches
     * the kernel apt offers and the installed busybox-static and fio); builds nothing.
     */
    public static boolean isBuilt(Path repoRoot, Path cacheDir) {
        return run(repoRoot, cacheDir, true).exitCode() == 0;
    }

    /**
     * The default cache, the one {@value #SCRIPT} uses without an argument:
     * {@code $XDG_CACHE_HOME/hvspi/guest}, or {@code ~/.cache/hvspi/guest} when
     * {@code XDG_CACHE_HOME} is unset or empty.
     */
    public static Path defaultCache() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg == null || xdg.isEmpty()
                ? Path.of(System.getProperty("user.home"), ".cache")
                : Path.of(xdg);
        return base.toAbsolutePath().resolve("hvspi").resolve("guest");
    }

    /**
     * The repository root: the system property {@code hvspi.projectRoot} (surefire sets
     * it), else the nearest directory above the working directory that holds {@value #SCRIPT}.
     */
    public static Path repoRoot() {
        Optional<Path> fromProperty = Optional.ofNullable(System.getProperty("hvspi.projectRoot"))
                .map(p -> Path.of(p).toAbsolutePath().normalize())
                .filter(p -> Files.isRegularFile(p.resolve(SCRIPT)));
        if (fromProperty.isPresent()) {
            return fromProperty.get();
        }
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve(SCRIPT))) {
                return dir;
            }
        }
        throw new GuestException("cannot find " + SCRIPT + " above " + Path.of("").toAbsolutePath()
                + " (set -Dhvspi.projectRoot=<repository root>)");
    }

    /**
     * QEMU arguments that boot this guest with its console on a chardev socket server
     * at {@code consoleSocket}: {@code -kernel}, {@code -initrd}, {@code -append},
     * {@code -chardev socket,...,server=on,wait=off} and {@code -serial chardev:...}.
     */
    public List<String> qemuArgs(Path consoleSocket) {
        return List.of("-kernel", kernel.toString(), "-initrd", initrd.toString(), "-append", KERNEL_PARAMS,
                "-chardev", "socket,id=" + CONSOLE_CHARDEV + ",path=" + consoleSocket.toString().replace(",", ",,")
                        + ",server=on,wait=off",
                "-serial", "chardev:" + CONSOLE_CHARDEV);
    }

    /** One run of the script: its exit code, its key=value results and its error lines. */
    private record Run(int exitCode, Map<String, String> results, List<String> errors) {
        TestGuest guest(Path cacheDir) {
            String kernel = results.get("kernel");
            String initrd = results.get("initrd");
            String version = results.get("kernel-version");
            if (kernel == null || initrd == null || version == null || version.isEmpty()) {
                throw new GuestException(SCRIPT + " for " + cacheDir + " did not print kernel=, initrd= and kernel-version=");
            }
            return new TestGuest(Path.of(kernel), Path.of(initrd), version);
        }

        GuestException failure(Path cacheDir) {
            String why = errors.isEmpty() ? "exit code " + exitCode : String.join("; ", errors);
            return new GuestException(exitCode == EXIT_MISSING_PACKAGES
                    ? "cannot build the test guest: " + why
                    : "building the test guest in " + cacheDir + " failed: " + why);
        }
    }

    private static Run run(Path repoRoot, Path cacheDir, boolean checkOnly) {
        Path script = repoRoot.resolve(SCRIPT);
        if (!Files.isRegularFile(script)) {
            throw new GuestException("no test guest builder at " + script);
        }
        List<String> command = new ArrayList<>(List.of("bash", script.toString()));
        if (checkOnly) {
            command.add("--check");
        }
        command.add(cacheDir.toString());
        Process process;
        try {
            process = new ProcessBuilder(command).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new GuestException("cannot run " + script + ": " + e.getMessage(), e);
        }
        Map<String, String> results = new HashMap<>();
        List<String> errors = new ArrayList<>();
        Thread output = Thread.ofPlatform().daemon().name("build-guest output").start(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null; ) {
                    int eq = line.indexOf('=');
                    if (line.matches("(kernel|initrd|kernel-version)=.*")) {
                        results.put(line.substring(0, eq), line.substring(eq + 1));
                    } else if (line.startsWith("build-guest: error: ")) {
                        errors.add(line.substring("build-guest: error: ".length()));
                    } else if (!checkOnly) {
                        LOG.info("{}", line);
                    }
                }
            } catch (IOException e) {
                errors.add("reading its output failed: " + e.getMessage());
            }
        });
        try {
            if (!process.waitFor(BUILD_TIMEOUT.toMinutes(), TimeUnit.MINUTES)) {
                process.destroyForcibly();
                throw new GuestException(script + " did not finish within " + BUILD_TIMEOUT.toMinutes() + " minutes");
            }
            output.join(TimeUnit.SECONDS.toMillis(10));
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new GuestException("interrupted while running " + script, e);
        }
        Run run = new Run(process.exitValue(), Map.copyOf(results), List.copyOf(errors));
        if (run.exitCode() != 0 && !(checkOnly && run.exitCode() == EXIT_STALE)) {
            throw run.failure(cacheDir);
        }
        return run;
    }
}
