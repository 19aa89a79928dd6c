package io.hvspi.core.state;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmStateStore;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
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
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicLong;
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
 *
 * <p>Writes of one VM's record are serialised, so the last save wins; writes of
 * different VMs run in parallel. A store-wide lock made every VM of a host queue
 * behind every other VM's write ({@code hvctl bench scale} runs 32 VMs from one JVM).
 */
public final class JsonVmStateStore implements VmStateStore {
    /** A record is a few KiB; one that is far larger was not written by hvspi and is not read whole. */
    static final int MAX_RECORD_BYTES = 16 << 20;

    static final String FILE_NAME = "vm.json";
    /** Lock stripes: bounded however many VMs come and go; two VMs sharing one only wait for each other. */
    private static final int STRIPES = 256;

    private static final Logger LOG = LoggerFactory.getLogger(JsonVmStateStore.class);
    /**
     * Records are read and written with Jackson's streaming parser and generator only: an
     * ObjectMapper loads about 350 classes from Jackson's jars at its first use, a quarter of the
     * CPU of {@code hvctl vm list}.
     */
    private static final JsonFactory JSON = new JsonFactory();
    private final Path root;
    private final Object[] locks = new Object[STRIPES];
    /**
     * Each VM's VMM identity, read from /proc once (at the first save with a pid) or taken
     * from the record on load, so that saves after every hotplug add no /proc reads.
     */
    private final ConcurrentMap<String, VmmIdentity> identities = new ConcurrentHashMap<>();

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

    /** The VM's directory when it exists (checked to be private), else empty. */
    private static Optional<Path> existingVmDir(Path file) {
        Path dir = file.getParent();
        return Files.exists(dir, LinkOption.NOFOLLOW_LINKS) ? Optional.of(RuntimeDirs.checkPrivate(dir))
                : Optional.empty();
    }

    @Override
    public void save(VmRecord record) {
        Path file = recordFile(record.vmId());
        try {
            byte[] bytes = encode(record, identityFor(record));
            synchronized (lockFor(record.vmId())) {
                RuntimeDirs.createPrivate(file.getParent());
                writeAtomically(file, bytes);
            }
        } catch (IOException e) {
            throw new HvspiException("cannot save state of VM '" + record.vmId() + "' to " + file + ": " + e.getMessage(), e);
        }
    }

    /** The identity to record with {@code record}: cached, or read for a new pid or a process not yet the VMM. */
    private Optional<VmmIdentity> identityFor(VmRecord record) {
        if (record.pid() <= 0) {
            return Optional.empty();
        }
        VmmIdentity known = identities.get(record.vmId());
        if (known != null && known.pid() == record.pid() && VmmProcess.isPlausibleVmm(known.exe())) {
            return Optional.of(known);
        }
        // a plugin records its VMM right after spawning it, when the process may not have exec'd the VMM
        // yet (setsid, a wrapper script): such an identity is read again, and the same process (same start
        // time) now running the VMM replaces it; a process gone keeps what was recorded
        Optional<VmmIdentity> read = VmmIdentity.ofPid(record.pid());
        if (known != null && known.pid() == record.pid()
                && read.filter(id -> id.startTime() == known.startTime()).isEmpty()) {
            return Optional.of(known);
        }
        read.ifPresent(id -> identities.put(record.vmId(), id));
        return read;
    }

    /**
     * Compact JSON around the plugin's state, which is checked to be one well-formed JSON
     * value (a torn or invalid record would break reattach) by a streaming pass that skips
     * over it, then written as it came: no tree is built and nothing is copied token by token,
     * since this runs twice per hotplug (copying it through a generator cost as much again
     * as checking it).
     */
    private static byte[] encode(VmRecord record, Optional<VmmIdentity> vmm) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256 + record.pluginState().length());
        try (JsonGenerator g = JSON.createGenerator(out);
             JsonParser state = JSON.createParser(record.pluginState())) {
            g.writeStartObject();
            g.writeStringField("vmId", record.vmId());
            g.writeStringField("hypervisorType", record.hypervisorType());
            g.writeNumberField("pid", record.pid());
            g.writeStringField("runtimeDir", record.runtimeDir().toString());
            g.writeStringField("createdAt", record.createdAt().toString());
            if (vmm.isPresent()) {
                g.writeObjectFieldStart("vmm");
                g.writeNumberField("pid", vmm.get().pid());
                g.writeNumberField("startTime", vmm.get().startTime());
                g.writeStringField("exe", vmm.get().exe().toString());
                g.writeEndObject();
            }
            g.writeFieldName("pluginState");
            if (state.nextToken() == null) {
                throw new IOException("plugin state is empty");
            }
            // strict parsing: every token of the value is read (names, escapes, numbers), none is kept
            state.skipChildren();
            if (state.nextToken() != null) {
                throw new IOException("plugin state has trailing content after its JSON value");
            }
            // the generator writes the ':' and the closing brace; the state's bytes go straight to the
            // stream in between (String.getBytes is a bulk copy, where a generator's writeRaw encodes
            // char by char: a quarter of an attach's CPU in the calling thread at 16 disks)
            g.writeRawValue("");
            g.flush();
            out.write(record.pluginState().getBytes(StandardCharsets.UTF_8));
            g.writeEndObject();
        }
        return out.toByteArray();
    }

    @Override
    public Optional<VmRecord> load(String vmId) {
        return loadStored(vmId).map(Stored::record);
    }

    /**
     * The VM's record with its VMM identity, validated: {@code runtimeDir} must be
     * {@code <root>/<vmId>} and {@code pid} not negative.
     *
     * @throws HvspiException naming the file and the field when the record is corrupt
     */
    public Optional<Stored> loadStored(String vmId) {
        // a rename replaces the file whole: a reader needs no lock
        Path file = recordFile(vmId);
        return existingVmDir(file).isEmpty() ? Optional.empty() : read(file, vmId);
    }

    /** Every recorded VM; a corrupt record is skipped with a warning so it cannot hide the others. */
    @Override
    public List<VmRecord> list() {
        List<VmRecord> records = new ArrayList<>();
        for (VmEntry e : entries()) {
            if (e instanceof VmEntry.Recorded r) {
                records.add(r.record());
            } else if (e instanceof VmEntry.Corrupt c) {
                LOG.warn("skipping VM '{}': {}", c.vmId(), c.reason());
            }
        }
        return records;
    }

    /**
     * One entry per VM directory of the root, oldest first, then the unusable ones by id: a
     * record with its VMM identity and whether that VMM is verified alive, a directory
     * without a record, or the reason the record cannot be used. One bad record never hides the others.
     */
    public List<VmEntry> entries() {
        List<VmEntry.Recorded> good = new ArrayList<>();
        List<VmEntry> bad = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return List.of();
        }
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(root,
                p -> Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) || Files.isSymbolicLink(p))) {
            for (Path dir : dirs) {
                String name = dir.getFileName().toString();
                if (name.startsWith(".")) {
                    continue; // hvspi's own (the VM locks); VM ids start with a letter
                }
                try {
                    RuntimeDirs.checkVmId(name);
                    RuntimeDirs.checkPrivate(dir);
                } catch (HvspiException e) {
                    LOG.warn("skipping {} in the VM state root: {}", dir, e.getMessage());
                    continue;
                }
                try {
                    Optional<Stored> s = read(dir.resolve(FILE_NAME), name);
                    if (s.isEmpty()) {
                        bad.add(new VmEntry.Unrecorded(name, dir));
                    } else {
                        good.add(new VmEntry.Recorded(s.get().record(), s.get().identity(),
                                s.get().identity().map(id -> new VmmProcess(id, dir).isAlive()).orElse(false)));
                    }
                } catch (HvspiException e) {
                    bad.add(new VmEntry.Corrupt(name, dir, e.getMessage()));
                }
            }
        } catch (IOException e) {
            throw new HvspiException("cannot list VM records in " + root + ": " + e.getMessage(), e);
        }
        good.sort(Comparator.comparing((VmEntry.Recorded r) -> r.record().createdAt()).thenComparing(VmEntry::vmId));
        bad.sort(Comparator.comparing(VmEntry::vmId));
        List<VmEntry> all = new ArrayList<>(good);
        all.addAll(bad);
        return all;
    }

    @Override
    public void remove(String vmId) {
        Path file = recordFile(vmId);
        identities.remove(vmId);
        if (existingVmDir(file).isEmpty()) {
            return;
        }
        try {
            synchronized (lockFor(vmId)) {
                // deleting a link removes the link, never its target
                Files.deleteIfExists(file);
            }
        } catch (IOException e) {
            throw new HvspiException("cannot remove state of VM '" + vmId + "': " + e.getMessage(), e);
        }
    }

    /**
     * A validated record and the identity of its VMM.
     *
     * @param identity present when the record holds one whose pid is the record's pid
     */
    public record Stored(VmRecord record, Optional<VmmIdentity> identity) {}

    private Optional<Stored> read(Path file, String vmId) {
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
                bytes = in.readNBytes(MAX_RECORD_BYTES + 1);
            }
            if (bytes.length > MAX_RECORD_BYTES) {
                throw new HvspiException("refusing VM record " + file + ": it is larger than "
                        + (MAX_RECORD_BYTES >> 20) + " MiB; hvspi writes records of a few KiB");
            }
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new HvspiException("cannot read VM record " + file + ": " + e.getMessage(), e);
        }
        Stored stored;
        try {
            Parsed parsed = parse(bytes);
            ObjectNode n = parsed.fields();
            if (!n.path("pid").isIntegralNumber()) {
                throw new IOException("field pid is missing or not an integer");
            }
            VmRecord record = new VmRecord(n.path("vmId").asText(), n.path("hypervisorType").asText(),
                    n.path("pid").asLong(), Path.of(n.path("runtimeDir").asText()),
                    Instant.parse(n.path("createdAt").asText()), parsed.pluginState());
            stored = new Stored(record, identityOf(n.path("vmm"), record.pid()));
        } catch (IOException | RuntimeException e) {
            throw new HvspiException("corrupt VM record " + file + ": " + oneLine(e), e);
        }
        validate(file, vmId, stored.record());
        stored.identity().ifPresent(id -> identities.put(vmId, id));
        return Optional.of(stored);
    }

    /** A record's fields but its plugin's state, and that state as the text it was written with. */
    private record Parsed(ObjectNode fields, String pluginState) {}

    /**
     * One JSON object and nothing after it (a second write run together with it, junk: corrupt).
     * The plugin's state is skipped over, checked as the parser goes, and kept as its bytes in the
     * file, as it was given to {@link #save} ({@code null} when there is none); the other fields
     * become a tree, as a mapper's readTree would make it.
     */
    private static Parsed parse(byte[] bytes) throws IOException {
        try (JsonParser p = JSON.createParser(bytes)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new IOException("not a JSON object");
            }
            ObjectNode fields = JsonNodeFactory.instance.objectNode();
            String pluginState = "null";
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                p.nextToken();
                if (name.equals("pluginState")) {
                    int start = (int) p.currentTokenLocation().getByteOffset();
                    p.skipChildren();
                    if (p.currentToken().isScalarValue()) {
                        p.getText(); // a string's text is read lazily: read it, so that the location is past it
                    }
                    int end = (int) p.currentLocation().getByteOffset();
                    pluginState = new String(bytes, start, end - start, StandardCharsets.UTF_8);
                } else {
                    fields.set(name, tree(p));
                }
            }
            if (p.nextToken() != null) {
                throw new IOException("trailing content after the record's object: " + p.currentToken());
            }
            return new Parsed(fields, pluginState);
        }
    }

    /** The value at the parser's token as a tree (the parser's nesting limit bounds the recursion). */
    private static JsonNode tree(JsonParser p) throws IOException {
        JsonNodeFactory nodes = JsonNodeFactory.instance;
        return switch (p.currentToken()) {
            case START_OBJECT -> {
                ObjectNode object = nodes.objectNode();
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String name = p.currentName();
                    p.nextToken();
                    object.set(name, tree(p));
                }
                yield object;
            }
            case START_ARRAY -> {
                ArrayNode array = nodes.arrayNode();
                while (p.nextToken() != JsonToken.END_ARRAY) {
                    array.add(tree(p));
                }
                yield array;
            }
            case VALUE_STRING -> nodes.textNode(p.getText());
            case VALUE_NUMBER_INT -> switch (p.getNumberType()) {
                case INT -> nodes.numberNode(p.getIntValue());
                case LONG -> nodes.numberNode(p.getLongValue());
                default -> nodes.numberNode(p.getBigIntegerValue());
            };
            case VALUE_NUMBER_FLOAT -> nodes.numberNode(p.getDoubleValue());
            case VALUE_TRUE -> nodes.booleanNode(true);
            case VALUE_FALSE -> nodes.booleanNode(false);
            case VALUE_NULL -> nodes.nullNode();
            default -> throw new IOException("unexpected " + p.currentToken());
        };
    }

    /** Records are data, not authority: fields that steer signals or deletions must be where hvspi puts them. */
    private void validate(Path file, String vmId, VmRecord record) {
        if (!record.vmId().equals(vmId)) {
            throw new HvspiException("corrupt VM record " + file + ": it is for VM '" + record.vmId()
                    + "', kept under '" + vmId + "'");
        }
        Path expected = root.toAbsolutePath().normalize().resolve(vmId);
        if (!record.runtimeDir().equals(expected)) {
            throw new HvspiException("corrupt VM record " + file + ": field runtimeDir is '" + record.runtimeDir()
                    + "', expected '" + expected + "'");
        }
        if (record.pid() < 0) {
            throw new HvspiException("corrupt VM record " + file + ": field pid is " + record.pid()
                    + ", expected 0 or a process id");
        }
    }

    /** The recorded identity, if any and consistent with the record's pid; a bad one is ignored, not trusted. */
    private static Optional<VmmIdentity> identityOf(JsonNode vmm, long pid) {
        if (!vmm.isObject() || !vmm.path("pid").canConvertToLong() || vmm.path("pid").asLong() != pid || pid <= 0
                || !vmm.path("startTime").canConvertToLong() || !vmm.path("exe").isTextual()) {
            return Optional.empty();
        }
        return Optional.of(new VmmIdentity(pid, vmm.path("startTime").asLong(), Path.of(vmm.path("exe").asText())));
    }

    private static String oneLine(Throwable e) {
        String m = String.valueOf(e.getMessage());
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }

    /** Temporary names: this process's id and a counter, unique without a random source. */
    private static final String TMP_INFIX = "." + ProcessHandle.current().pid() + ".";
    private static final AtomicLong TMP_COUNTER = new AtomicLong();
    /** Names taken (a crashed writer's leftovers, a reused pid) before a save gives up. */
    private static final int TMP_ATTEMPTS = 100;

    static void writeAtomically(Path file, byte[] bytes) throws IOException {
        Path tmp = createTemp(file);
        boolean moved = false;
        try {
            // No fsync: the rename alone keeps readers and a crashed writer from seeing a torn
            // record, and a running VM's state cannot outlive the host it runs on (Kata keeps
            // the same state under /run). fsync cost ~0.3 ms per hotplug on ext4 and bought nothing.
            // a stream, not a FileChannel: a channel closes itself when the calling thread is interrupted
            // (ClosedByInterruptException), and hvspi's calls finish what they started for interrupted callers
            Files.write(tmp, bytes, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                moved = true;
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("file system of " + file.getParent() + " cannot rename atomically", e);
            }
        } finally {
            if (!moved) {
                Files.deleteIfExists(tmp);
            }
        }
    }

    /**
     * A new, empty file of mode 0600 beside {@code file}, named {@code .vm.json.<pid>.<n>.tmp}:
     * {@link Files#createTempFile} draws its name from {@code SecureRandom}, a cost per save;
     * the directory is private, so a predictable name gives nobody else a way in, and a name
     * already taken (a crashed writer's file) is skipped, never reused.
     */
    private static Path createTemp(Path file) throws IOException {
        for (int i = 0; ; i++) {
            Path tmp = file.resolveSibling(
                    "." + file.getFileName() + TMP_INFIX + TMP_COUNTER.incrementAndGet() + ".tmp");
            try {
                return Files.createFile(tmp, PosixFilePermissions.asFileAttribute(RuntimeDirs.FILE_MODE));
            } catch (FileAlreadyExistsException e) {
                if (i + 1 >= TMP_ATTEMPTS) {
                    throw e;
                }
            }
        }
    }
}
