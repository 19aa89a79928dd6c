package io.hvspi.cli;

import io.hvspi.core.host.HvspiHost;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.core.state.VmEntry;
import io.hvspi.core.state.VmmProcess;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
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
import java.util.Optional;
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
        Optional<VmmProcess> vmm;
        try (HvspiHost host = global.host()) {
            Map<String, Path> logs = host.logFiles(vmId);
            file = logs.get(role);
            if (file == null) {
                throw new RequestRejectedException(RequestRejectedException.Reason.NOT_FOUND, "VM '" + vmId
                        + "' keeps no " + (console ? "console" : "VMM") + " log (its plugin offers: "
                        + (logs.isEmpty() ? "none" : String.join(", ", logs.keySet())) + ")");
            }
            // the VMM as recorded and verified (pid, start time, executable, runtime directory): a raw pid
            // may be 0 (never spawned) or another process's by now, which would keep --follow going for good
            vmm = host.list().stream().filter(e -> e.vmId().equals(vmId))
                    .filter(e -> e instanceof VmEntry.Recorded).map(e -> (VmEntry.Recorded) e)
                    .findFirst().flatMap(r -> r.identity().map(id -> new VmmProcess(id, r.record().runtimeDir())));
        }
        PrintWriter out = out();
        requireRegularFile(file);
        try (FileChannel log = FileChannel.open(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
            Utf8Copy copy = new Utf8Copy(log, out);
            copy.available();
            if (follow) {
                err().println("hvctl: following " + file.getFileName() + " of VM " + vmId + " until the VM ends;"
                        + " Ctrl-C to stop");
                err().flush();
                follow(file, copy, vmm, out);
            }
            copy.end();
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
    private static void follow(Path file, Utf8Copy copy, Optional<VmmProcess> vmm, PrintWriter out) throws IOException {
        try (WatchService watch = file.getFileSystem().newWatchService()) {
            WatchKey key = file.getParent().register(watch, StandardWatchEventKinds.ENTRY_MODIFY,
                    StandardWatchEventKinds.ENTRY_DELETE);
            while (key.isValid() && Files.exists(file) && vmm.map(VmmProcess::isAlive).orElse(false)) {
                WatchKey ready = watch.poll(LIVENESS_CHECK_MS, TimeUnit.MILLISECONDS);
                if (ready != null) {
                    ready.pollEvents();
                    ready.reset();
                }
                copy.available();
            }
            copy.available(); // what the VMM wrote while it ended
        } catch (InterruptedException | ClosedWatchServiceException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Copies what a log gains to {@code out} as UTF-8, bad bytes replaced. One decoder across all
     * reads: a character split by a read's end (a 64 KiB buffer, or a VMM halfway through writing
     * it) is completed by the next read, not replaced twice.
     */
    static final class Utf8Copy {
        private final FileChannel log;
        private final PrintWriter out;
        private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPLACE).onUnmappableCharacter(CodingErrorAction.REPLACE);
        private final ByteBuffer bytes = ByteBuffer.allocate(64 * 1024);
        private final CharBuffer chars = CharBuffer.allocate(64 * 1024);

        Utf8Copy(FileChannel log, PrintWriter out) {
            this.log = log;
            this.out = out;
        }

        /** Copies the bytes after the channel's position; an incomplete last character waits for the next call. */
        void available() throws IOException {
            while (log.read(bytes) > 0) {
                bytes.flip();
                decode(false);
                bytes.compact();
            }
            out.flush();
        }

        /** At the end: an incomplete last character is replaced. */
        void end() {
            bytes.flip();
            decode(true);
            decoder.flush(chars);
            drain();
            bytes.clear();
            out.flush();
        }

        private void decode(boolean endOfInput) {
            while (true) {
                CoderResult r = decoder.decode(bytes, chars, endOfInput);
                drain();
                if (!r.isOverflow()) {
                    return;
                }
            }
        }

        private void drain() {
            chars.flip();
            out.append(chars);
            chars.clear();
        }
    }
}
