package io.hvspi.cli;

import io.hvspi.spi.VmSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Whether {@code hvctl run} would start a file's VM on this host: the paths
 * {@code run} needs. A file Kata reads fine may still name a kernel or image
 * this host lacks; {@code config check} says so without calling the file
 * invalid, so that run's hint ("check the file with: hvctl config check") leads
 * to the missing file. The plugin's own checks (e.g. QEMU's
 * {@code QemuHypervisorFactory.validate}) still run at {@code run}.
 */
final class RunReadiness {
    private RunReadiness() {}

    /** What is missing, one phrase each; empty when run would find everything. */
    static List<String> problems(VmSpec vm) {
        List<String> problems = new ArrayList<>();
        Path binary = vm.binary();
        if (binary.toString().isEmpty()) {
            problems.add("path: no VMM binary named");
        } else if (!Files.isExecutable(binary)) {
            problems.add("path: " + binary + " does not exist or is not executable");
        }
        file(problems, "kernel", vm.kernel());
        file(problems, "initrd", vm.initrd());
        file(problems, "image", vm.image());
        return List.copyOf(problems);
    }

    private static void file(List<String> problems, String key, Optional<Path> path) {
        if (path.isPresent() && !Files.isRegularFile(path.get())) {
            problems.add(key + ": " + path.get() + " does not exist or is not a regular file");
        }
    }
}
