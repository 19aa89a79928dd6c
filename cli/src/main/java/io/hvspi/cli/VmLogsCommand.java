package io.hvspi.cli;

import io.hvspi.core.host.HvspiHost;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.VmRecord;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code hvctl vm logs VM}: prints the VMM's log, or with {@code --console} what the
 * guest wrote to its serial console; {@code --follow} keeps printing what is
 * appended until the VM's runtime directory goes (a stop), its VMM exits, or Ctrl-C.
 */
@Command(name = "logs", header = "Print a VM's VMM log or console log.",
        description = "With --follow, keeps printing until the VMM exits or its runtime directory goes.")
final class VmLogsCommand extends VmCommand.OneVm {
    /** How often --follow looks whether the VMM still runs when the log is quiet. */
    private static final long LIVENESS_CHECK_MS = 500;

    @Option(names = "--console", description = "The guest's serial console log instead of the VMM's.")
    boolean console;

    @Option(names = {"-f", "--follow"}, description = "Keep printing what is appended until the VM ends.")
    boolean follow;

    @Override
    public Integer call() {
        String role = console ? "console" : "vmm";
        Path file;
        long pid;
        try (HvspiHost host = global.host()) {
            Map<String, Path> logs = host.logFiles(vmId);
            file = logs.get(role);
            if (file == null) {
                throw new RequestRejectedException(RequestRejectedException.Reason.NOT_FOUND, "VM '" + vmId
                        + "' keeps no " + (console ? "console" : "VMM") + " log (its plugin offers: "
                        + (logs.isEmpty() ? "none" : String.join(", ", logs.keySet())) + ")");
            }
            pid = host.list().stream().filter(e -> e.vmId().equals(vmId))
                    .filter(e -> e instanceof io.hvspi.core.state.VmEntry.Recorded)
                    .map(e -> ((io.hvspi.core.state.VmEntry.Recorded) e).record()).mapToLong(VmRecord::pid)
                    .findFirst().orElse(0);
        }
        PrintWriter out = out();
        requireRegularFile(file);
        try (FileChannel log = FileChannel.open(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
            copy(log, out);
            if (follow) {
                err().println("hvctl: following " + file.getFileName() + " of VM " + vmId + " until the VM ends;"
                        + " Ctrl-C to stop");
                err().flush();
                follow(file, log, pid, out);
            }
        } catch (NoSuchFileException e) {
            throw new RequestRejectedException(RequestRejectedException.Reason.NOT_FOUND,
                    "VM '" + vmId + "' has no log " + file + " (yet, or any more)");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
        return ExitCode.OK;
    }

    /** A VMM log is a file in the VM's private directory: a link, a FIFO (which would hold us) or a directory is refused. */
    private void requireRegularFile(Path file) {
        BasicFileAttributes a;
        try {
            a = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            throw new RequestRejectedException(RequestRejectedException.Reason.NOT_FOUND,
                    "VM '" + vmId + "' has no log " + file + " (yet, or any more)");
        } catch (IOException e) {
            throw new HvspiException("cannot read " + file + ": " + e.getMessage(), e);
        }
        if (!a.isRegularFile()) {
            throw new HvspiException("refusing to read " + file + ": it is " + (a.isSymbolicLink()
                    ? "a symbolic link" : a.isDirectory() ? "a directory" : "not a regular file")
                    + "; the VMM writes its log as a file in the VM's runtime directory");
        }
    }

    /** Prints what the log gains, woken by inotify (WatchService), until the VM ends. */
    private static void follow(Path file, FileChannel log, long pid, PrintWriter out) throws IOException {
        try (WatchService watch = file.getFileSystem().newWatchService()) {
            WatchKey key = file.getParent().register(watch, StandardWatchEventKinds.ENTRY_MODIFY,
                    StandardWatchEventKinds.ENTRY_DELETE);
            while (key.isValid() && Files.exists(file) && vmmAlive(pid)) {
                WatchKey ready = watch.poll(LIVENESS_CHECK_MS, TimeUnit.MILLISECONDS);
                if (ready != null) {
                    ready.pollEvents();
                    ready.reset();
                }
                copy(log, out);
            }
            copy(log, out); // what the VMM wrote while it ended
        } catch (InterruptedException | ClosedWatchServiceException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static boolean vmmAlive(long pid) {
        return pid <= 0 || ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    /** Copies the bytes after the channel's position to {@code out}, decoded as UTF-8 (bad bytes replaced). */
    private static void copy(FileChannel log, PrintWriter out) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
        while (log.read(buffer) > 0) {
            buffer.flip();
            out.print(new String(buffer.array(), 0, buffer.limit(), StandardCharsets.UTF_8));
            buffer.clear();
        }
        out.flush();
    }
}
