package io.hvspi.core.state;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmStateStore;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * VM records as {@code <root>/<vmId>/vm.json}: written to a temporary file in
 * the same directory, flushed, then renamed over the old one, so a reader (or a
 * crash) sees the old record or the new, never half of one.
 *
 * <p>Writes of one VM's record are serialised, so the last save wins; writes of
 * different VMs run in parallel: a store-wide lock made every VM of a host wait for
 * every other VM's {@code fsync}.
 */
public final class JsonVmStateStore implements VmStateStore {
    static final String FILE_NAME = "vm.json";
    /** Lock stripes: bounded however many VMs come and go; two VMs sharing one only wait for each other. */
    private static final int STRIPES = 256;

    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path root;
    private final Object[] locks = new Object[STRIPES];

    public JsonVmStateStore(Path root) {
        this.root = root;
        for (int i = 0; i < STRIPES; i++) {
            locks[i] = new Object();
        }
    }

    /** The lock that orders writes of this VM's record. */
    Object lockFor(String vmId) {
        return locks[Math.floorMod(vmId.hashCode(), STRIPES)];
    }

    public Path root() {
        return root;
    }

    /** Where a VM's record lives. */
    public Path recordFile(String vmId) {
        return root.resolve(RuntimeDirs.checkVmId(vmId)).resolve(FILE_NAME);
    }

    @Override
    public void save(VmRecord record) {
        Path file = recordFile(record.vmId());
        ObjectNode node = JSON.createObjectNode()
                .put("vmId", record.vmId())
                .put("hypervisorType", record.hypervisorType())
                .put("pid", record.pid())
                .put("runtimeDir", record.runtimeDir().toString())
                .put("createdAt", record.createdAt().toString());
        try {
            node.set("pluginState", JSON.readTree(record.pluginState()));
            byte[] bytes = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(node);
            synchronized (lockFor(record.vmId())) {
                RuntimeDirs.createPrivate(file.getParent());
                writeAtomically(file, bytes);
            }
        } catch (IOException e) {
            throw new HvspiException("cannot save state of VM '" + record.vmId() + "' to " + file + ": " + e.getMessage(), e);
        }
    }

    @Override
    public Optional<VmRecord> load(String vmId) {
        // a rename replaces the file whole: a reader needs no lock
        return read(recordFile(vmId));
    }

    @Override
    public List<VmRecord> list() {
        List<VmRecord> records = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return records;
        }
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(root, Files::isDirectory)) {
            for (Path dir : dirs) {
                read(dir.resolve(FILE_NAME)).ifPresent(records::add);
            }
        } catch (IOException e) {
            throw new HvspiException("cannot list VM records in " + root + ": " + e.getMessage(), e);
        }
        records.sort(Comparator.comparing(VmRecord::createdAt).thenComparing(VmRecord::vmId));
        return records;
    }

    @Override
    public void remove(String vmId) {
        try {
            synchronized (lockFor(vmId)) {
                Files.deleteIfExists(recordFile(vmId));
            }
        } catch (IOException e) {
            throw new HvspiException("cannot remove state of VM '" + vmId + "': " + e.getMessage(), e);
        }
    }

    private static Optional<VmRecord> read(Path file) {
        try {
            JsonNode n = JSON.readTree(Files.readAllBytes(file));
            return Optional.of(new VmRecord(n.path("vmId").asText(), n.path("hypervisorType").asText(),
                    n.path("pid").asLong(), Path.of(n.path("runtimeDir").asText()),
                    Instant.parse(n.path("createdAt").asText()), JSON.writeValueAsString(n.path("pluginState"))));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException | RuntimeException e) {
            throw new HvspiException("corrupt VM record " + file + ": " + e.getMessage(), e);
        }
    }

    static void writeAtomically(Path file, byte[] bytes) throws IOException {
        Path tmp = Files.createTempFile(file.getParent(), "." + file.getFileName(), ".tmp",
                PosixFilePermissions.asFileAttribute(RuntimeDirs.FILE_MODE));
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ch.write(java.nio.ByteBuffer.wrap(bytes));
                ch.force(true);
            }
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
