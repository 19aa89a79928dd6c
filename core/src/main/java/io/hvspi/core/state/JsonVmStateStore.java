package io.hvspi.core.state;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmStateStore;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * VM records as {@code <root>/<vmId>/vm.json}: written to a temporary file in
 * the same directory, then renamed over the old one, so a reader (or a crashed
 * writer) sees the old record or the new, never half of one.
 *
 * <p>A record is trusted only from where this user put it: the VM directory
 * must be a real directory (not a symbolic link) owned by this process's user
 * (a save also sets its mode to 0700), and {@code vm.json} a regular file of
 * the same user, opened without following links. A record kept under another
 * name than its VM id's is corrupt. {@link #list()} skips, with a warning,
 * entries of the root that are not such directories.
 */
public final class JsonVmStateStore implements VmStateStore {
    static final String FILE_NAME = "vm.json";

    private static final Logger LOG = LoggerFactory.getLogger(JsonVmStateStore.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path root;

    public JsonVmStateStore(Path root) {
        this.root = root;
    }

    public Path root() {
        return root;
    }

    /** Where a VM's record lives. */
    public Path recordFile(String vmId) {
        return root.resolve(RuntimeDirs.checkVmId(vmId)).resolve(FILE_NAME);
    }

    /** The VM's directory when it exists (checked to be private), else empty. */
    private static Optional<Path> existingVmDir(Path file) {
        Path dir = file.getParent();
        return Files.exists(dir, LinkOption.NOFOLLOW_LINKS) ? Optional.of(RuntimeDirs.checkPrivate(dir))
                : Optional.empty();
    }

    @Override
    public synchronized void save(VmRecord record) {
        Path file = recordFile(record.vmId());
        RuntimeDirs.createPrivate(file.getParent());
        try {
            writeAtomically(file, encode(record));
        } catch (IOException e) {
            throw new HvspiException("cannot save state of VM '" + record.vmId() + "' to " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Compact JSON with the plugin's state copied token by token: it is checked to be
     * one well-formed JSON value (a torn or invalid record would break reattach) without
     * building a tree, since this runs after every hotplug.
     */
    private static byte[] encode(VmRecord record) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256 + record.pluginState().length());
        try (JsonGenerator g = JSON.getFactory().createGenerator(out);
             JsonParser state = JSON.getFactory().createParser(record.pluginState())) {
            g.writeStartObject();
            g.writeStringField("vmId", record.vmId());
            g.writeStringField("hypervisorType", record.hypervisorType());
            g.writeNumberField("pid", record.pid());
            g.writeStringField("runtimeDir", record.runtimeDir().toString());
            g.writeStringField("createdAt", record.createdAt().toString());
            g.writeFieldName("pluginState");
            if (state.nextToken() == null) {
                throw new IOException("plugin state is empty");
            }
            g.copyCurrentStructure(state);
            if (state.nextToken() != null) {
                throw new IOException("plugin state has trailing content after its JSON value");
            }
            g.writeEndObject();
        }
        return out.toByteArray();
    }

    @Override
    public synchronized Optional<VmRecord> load(String vmId) {
        Path file = recordFile(vmId);
        return existingVmDir(file).isEmpty() ? Optional.empty() : read(file, vmId);
    }

    @Override
    public synchronized List<VmRecord> list() {
        List<VmRecord> records = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return records;
        }
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(root,
                p -> Files.isDirectory(p) || Files.isSymbolicLink(p))) {
            for (Path dir : dirs) {
                String name = dir.getFileName().toString();
                try {
                    RuntimeDirs.checkVmId(name);
                    RuntimeDirs.checkPrivate(dir);
                } catch (HvspiException e) {
                    LOG.warn("skipping {} in the VM state root: {}", dir, e.getMessage());
                    continue;
                }
                read(dir.resolve(FILE_NAME), name).ifPresent(records::add);
            }
        } catch (IOException e) {
            throw new HvspiException("cannot list VM records in " + root + ": " + e.getMessage(), e);
        }
        records.sort(Comparator.comparing(VmRecord::createdAt).thenComparing(VmRecord::vmId));
        return records;
    }

    @Override
    public synchronized void remove(String vmId) {
        Path file = recordFile(vmId);
        if (existingVmDir(file).isEmpty()) {
            return;
        }
        try {
            // deleting a link removes the link, never its target
            Files.deleteIfExists(file);
        } catch (IOException e) {
            throw new HvspiException("cannot remove state of VM '" + vmId + "': " + e.getMessage(), e);
        }
    }

    private static Optional<VmRecord> read(Path file, String vmId) {
        byte[] bytes;
        try {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (!a.isRegularFile()) {
                throw new HvspiException("refusing VM record " + file + ": it is "
                        + (a.isSymbolicLink() ? "a symbolic link" : "not a regular file")
                        + "; hvspi reads only records it wrote itself");
            }
            RuntimeDirs.checkOwner(file);
            try (InputStream in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
                bytes = in.readAllBytes();
            }
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new HvspiException("cannot read VM record " + file + ": " + e.getMessage(), e);
        }
        VmRecord record;
        try {
            JsonNode n = JSON.readTree(bytes);
            record = new VmRecord(n.path("vmId").asText(), n.path("hypervisorType").asText(),
                    n.path("pid").asLong(), Path.of(n.path("runtimeDir").asText()),
                    Instant.parse(n.path("createdAt").asText()), JSON.writeValueAsString(n.path("pluginState")));
        } catch (IOException | RuntimeException e) {
            throw new HvspiException("corrupt VM record " + file + ": " + e.getMessage(), e);
        }
        if (!record.vmId().equals(vmId)) {
            throw new HvspiException("corrupt VM record " + file + ": it is for VM '" + record.vmId()
                    + "', kept under '" + vmId + "'");
        }
        return Optional.of(record);
    }

    static void writeAtomically(Path file, byte[] bytes) throws IOException {
        Path tmp = Files.createTempFile(file.getParent(), "." + file.getFileName(), ".tmp",
                PosixFilePermissions.asFileAttribute(RuntimeDirs.FILE_MODE));
        try {
            // No fsync: the rename alone keeps readers and a crashed writer from seeing a torn
            // record, and a running VM's state cannot outlive the host it runs on (Kata keeps
            // the same state under /run). fsync cost ~0.3 ms per hotplug on ext4 and bought nothing.
            Files.write(tmp, bytes, StandardOpenOption.TRUNCATE_EXISTING);
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("file system of " + file.getParent() + " cannot rename atomically", e);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
