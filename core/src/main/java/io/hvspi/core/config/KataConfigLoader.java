package io.hvspi.core.config;

import io.hvspi.spi.ConfigException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryIteratorException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.temporal.TemporalAccessor;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.tomlj.Toml;
import org.tomlj.TomlArray;
import org.tomlj.TomlParseError;
import org.tomlj.TomlParseResult;
import org.tomlj.TomlPosition;
import org.tomlj.TomlTable;

/**
 * Loads a Kata Containers {@code configuration.toml}, unmodified, for either
 * runtime: selects the hypervisor table, reads the keys hvspi uses with Kata's
 * defaults, and keeps the whole table for plugin-specific keys.
 *
 * <p>Every error is a {@link ConfigException} of the form
 * {@code file:line:col: key: problem}, with the column of the offending value.
 */
public final class KataConfigLoader {
    private KataConfigLoader() {}

    /**
     * The most read of a configuration: Kata's are tens of KB. A path to the wrong thing (a
     * device such as {@code /dev/zero}, a log) costs this much, not the heap; a pipe
     * ({@code <(...)}) still works.
     */
    static final int MAX_BYTES = 16 << 20;

    /**
     * Reads and loads {@code file}, then merges the drop-ins of {@code config.d} beside
     * it, as both Kata runtimes do (see {@link #dropIns}); a file that cannot be read is a
     * {@link ConfigException} too.
     */
    public static KataConfig load(Path file) {
        Doc doc = Doc.parse(read(file), file);
        List<Path> links = new ArrayList<>();
        for (Path dropIn : dropIns(file)) {
            if (Files.isSymbolicLink(dropIn)) {
                links.add(dropIn);
            }
            doc = doc.merge(Doc.parse(read(dropIn), dropIn));
        }
        KataConfig config = build(doc, file);
        if (config.runtime() == KataRuntime.RUNTIME_RS && !links.isEmpty()) {
            // drop_in.rs update_from_dropin: DirEntry::file_type does not follow the link, so is_file() is false
            throw Locator.configError(links.get(0), 0, 0, null, "a symbolic link in config.d: runtime-rs refuses it"
                    + " (drop-in cfg file can only be a regular file or a symlink, but its check does not follow"
                    + " links); copy the file instead");
        }
        return config;
    }

    private static String read(Path file) {
        byte[] bytes;
        try (InputStream in = Files.newInputStream(file)) {
            bytes = in.readNBytes(MAX_BYTES + 1);
        } catch (IOException e) {
            throw Locator.configError(file, 0, 0, null, "cannot read the file: " + describe(e));
        }
        if (bytes.length > MAX_BYTES) {
            throw Locator.configError(file, 0, 0, null, "larger than " + (MAX_BYTES >> 20)
                    + " MiB, so not a configuration file (Kata's are tens of KB)");
        }
        return decode(bytes, file);
    }

    /**
     * The drop-ins of {@code file}, in the order both runtimes merge them: every entry
     * of {@code config.d} in the directory of the file with its symbolic links resolved
     * (Go {@code katautils/config.go: decodeConfig} resolves them with {@code ResolvePath},
     * runtime-rs with {@code fs::canonicalize}), whatever its name (neither filters on
     * {@code .toml}), sorted by name bytes (Go's {@code os.ReadDir}, runtime-rs's
     * {@code sort_by_key(file_name)}). No directory is no drop-in; a directory that
     * cannot be read, or an entry that is not a file, is an error in both.
     */
    static List<Path> dropIns(Path file) {
        Path real;
        try {
            real = file.toRealPath();
        } catch (IOException e) {
            real = file.toAbsolutePath();
        }
        Path dir = real.getParent() == null ? null : real.getParent().resolve("config.d");
        if (dir == null || !Files.exists(dir)) {
            return List.of();
        }
        List<Path> entries = new ArrayList<>();
        try (DirectoryStream<Path> stream = Files.newDirectoryStream(dir)) {
            stream.forEach(entries::add);
        } catch (IOException e) {
            throw unreadable(dir, e);
        } catch (DirectoryIteratorException e) {
            throw unreadable(dir, e.getCause());
        }
        entries.sort(Comparator.comparing((Path p) -> p.getFileName().toString().getBytes(StandardCharsets.UTF_8),
                java.util.Arrays::compareUnsigned));
        for (Path entry : entries) {
            if (!Files.isRegularFile(entry)) {
                throw Locator.configError(entry, 0, 0, null, "a drop-in of config.d must be a file (both Kata runtimes"
                        + " refuse to load otherwise)");
            }
        }
        return List.copyOf(entries);
    }

    private static ConfigException unreadable(Path dir, IOException e) {
        return Locator.configError(dir, 0, 0, null, "cannot read the drop-in directory: " + describe(e));
    }

    private static String describe(IOException e) {
        return switch (e) {
            case NoSuchFileException missing -> "no such file";
            case AccessDeniedException denied -> "permission denied";
            case FileSystemException other when other.getReason() != null -> other.getReason();
            default -> e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
        };
    }

    /**
     * The file's text; bytes that are not UTF-8 (which TOML requires) are an
     * error at their line and column, not a bare {@code MalformedInputException}.
     */
    static String decode(byte[] bytes, Path file) {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length);
        CoderResult result = decoder.decode(in, out, true);
        if (result.isUnderflow()) {
            result = decoder.flush(out);
        }
        if (result.isError()) {
            int offset = in.position();
            int line = 1;
            int lineStart = 0;
            for (int i = 0; i < offset; i++) {
                if (bytes[i] == '\n') {
                    line++;
                    lineStart = i + 1;
                }
            }
            int column = new String(bytes, lineStart, offset - lineStart, StandardCharsets.UTF_8).length() + 1;
            throw Locator.configError(file, line, column, null, String.format(
                    "not UTF-8: byte 0x%02X at offset %d does not start a valid UTF-8 sequence (TOML files are UTF-8)",
                    bytes[offset] & 0xff, offset));
        }
        return out.flip().toString();
    }

    /**
     * Loads configuration text.
     *
     * @param toml the file's content
     * @param nameForMessages the file name errors and {@link KataConfig#source()} carry
     */
    public static KataConfig parse(String toml, Path nameForMessages) {
        return build(Doc.parse(toml, nameForMessages), nameForMessages);
    }

    /**
     * A parsed file, or several merged: the document as plain values, and where
     * each key down to {@code hypervisor.NAME.key} was written (file, line, column).
     */
    private record Doc(Map<String, Object> root, Map<List<String>, Origin> origins) {
        static Doc parse(String toml, Path file) {
            TomlDepth.check(toml, file);
            TomlParseResult result = Toml.parse(toml);
            if (result.hasErrors()) {
                TomlParseError e = result.errors().get(0);
                TomlPosition p = e.position();
                throw Locator.configError(file, p == null ? 0 : p.line(), p == null ? 0 : p.column(), null,
                        "malformed TOML: " + e.getMessage());
            }
            List<String> lines = toml.lines().toList();
            checkNesting(result, file, lines);
            Map<List<String>, Origin> origins = new LinkedHashMap<>();
            originsOf(result, List.of(), file, lines, origins);
            return new Doc(asMap(result), origins);
        }

        /** Where the keys of {@code table} and of its tables, three levels down, were written. */
        private static void originsOf(TomlTable table, List<String> path, Path file, List<String> lines,
                                      Map<List<String>, Origin> out) {
            for (String key : table.keySet()) {
                List<String> keyPath = new ArrayList<>(path);
                keyPath.add(key);
                out.put(List.copyOf(keyPath), valueOrigin(lines, table.inputPositionOf(List.of(key))).in(file));
                if (keyPath.size() < 3 && table.get(List.of(key)) instanceof TomlTable sub) {
                    originsOf(sub, keyPath, file, lines, out);
                }
            }
        }

        /**
         * {@code dropIn} over this, as runtime-rs merges (drop_in.rs {@code toml_tree_ops::merge})
         * and the Go runtime's decoding amounts to: tables merge key by key, at any depth;
         * any other value, arrays included, replaces the one before.
         */
        Doc merge(Doc dropIn) {
            Map<List<String>, Origin> merged = new LinkedHashMap<>(origins);
            merged.putAll(dropIn.origins());
            return new Doc(mergeTables(root, dropIn.root()), merged);
        }

        @SuppressWarnings("unchecked")
        private static Map<String, Object> mergeTables(Map<String, Object> base, Map<String, Object> dropIn) {
            Map<String, Object> out = new LinkedHashMap<>(base);
            dropIn.forEach((key, value) -> out.merge(key, value, (old, added) ->
                    old instanceof Map<?, ?> a && added instanceof Map<?, ?> b
                            ? mergeTables((Map<String, Object>) a, (Map<String, Object>) b) : added));
            return Collections.unmodifiableMap(out);
        }

        Origin origin(String... path) {
            return origins.getOrDefault(List.of(path), Origin.DEFAULT);
        }

        Map<String, Origin> originsIn(String type) {
            Map<String, Origin> out = new LinkedHashMap<>();
            origins.forEach((path, o) -> {
                if (path.size() == 3 && path.get(0).equals("hypervisor") && path.get(1).equals(type)) {
                    out.put(path.get(2), o);
                }
            });
            return out;
        }
    }

    @SuppressWarnings("unchecked")
    private static KataConfig build(Doc doc, Path source) {
        String type = selectHypervisor(doc, source);
        KataRuntime runtime = KataRuntime.of(doc.root().get("runtime") instanceof Map<?, ?> t
                ? (Map<String, Object>) t : null);
        Map<String, Object> all = (Map<String, Object>) doc.root().get("hypervisor");
        refuseDates(all, doc, source, runtime);
        if (runtime == KataRuntime.RUNTIME_RS) {
            // runtime-rs validates every [hypervisor.NAME] table, not only the selected one
            // (kata-types src/config/hypervisor/mod.rs, ConfigOps for Hypervisor::validate)
            for (String name : all.keySet()) {
                RuntimeRsRules.check(name, (Map<String, Object>) all.get(name),
                        new Locator(source, name, doc.originsIn(name), runtime));
            }
        }
        Map<String, Object> raw = (Map<String, Object>) datesAsText(all.get(type));
        Locator at = new Locator(source, type, doc.originsIn(type), runtime);
        Set<String> known = KnownKeys.forHypervisor(runtime);
        List<ConfigNote> unknown = new ArrayList<>();
        for (String key : raw.keySet()) {
            if (!known.contains(key)) {
                String hint = KnownKeys.closest(known, key).map(k -> "; did you mean " + k + "?").orElse("");
                unknown.add(at.note(key, "unknown key: neither Kata's " + runtime.key() + " runtime nor hvspi reads"
                        + " it in [hypervisor." + Locator.tomlKey(type) + "]" + hint));
            }
        }
        return KataConfig.create(source, runtime, type, raw, at.origins(), unknown, Map.of());
    }

    /** Levels {@link #plain} recurses over: bracket nesting ({@link TomlDepth}) plus as many table levels. */
    static final int MAX_NESTING = 2 * TomlDepth.MAX_DEPTH;

    /**
     * Refuses a document nesting deeper than {@link #MAX_NESTING}: {@link TomlDepth}
     * bounds brackets before parsing, but each part of a dotted key or table header
     * ({@code a.a.a = 1}) is a table level too, without bound, and {@link #plain}
     * recursed into a StackOverflowError on 20000 parts. This walk keeps its own stack.
     */
    private static void checkNesting(TomlTable root, Path file, List<String> lines) {
        record Level(Object value, int depth, TomlPosition at) {}
        Deque<Level> todo = new ArrayDeque<>();
        todo.push(new Level(root, 0, null));
        while (!todo.isEmpty()) {
            Level l = todo.pop();
            if (l.depth() > MAX_NESTING) {
                Origin o = valueOrigin(lines, l.at());
                throw Locator.configError(file, o.line(), o.column(), null, "tables and arrays nest more than "
                        + MAX_NESTING + " deep here (each part of a dotted key or table header is a level);"
                        + " hvspi refuses that");
            }
            if (l.value() instanceof TomlTable t) {
                for (String key : t.keySet()) {
                    TomlPosition p = t.inputPositionOf(List.of(key));
                    todo.push(new Level(t.get(List.of(key)), l.depth() + 1, p != null ? p : l.at()));
                }
            } else if (l.value() instanceof TomlArray a) {
                for (int i = 0; i < a.size(); i++) {
                    TomlPosition p = a.inputPositionOf(i);
                    todo.push(new Level(a.get(i), l.depth() + 1, p != null ? p : l.at()));
                }
            }
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> asMap(TomlTable table) {
        return (Map<String, Object>) plain(table);
    }

    /**
     * runtime-rs's {@code [runtime] hypervisor_name} when present (it must name a
     * table), else the only {@code [hypervisor.NAME]} table.
     */
    private static String selectHypervisor(Doc doc, Path file) {
        Object hypervisors = doc.root().get("hypervisor");
        if (hypervisors != null && !(hypervisors instanceof Map<?, ?>)) {
            throw error(file, doc.origin("hypervisor"), "hypervisor",
                    "expected [hypervisor.NAME] tables, got " + Locator.show(hypervisors));
        }
        Map<?, ?> all = (Map<?, ?>) hypervisors;
        List<String> names = all == null ? List.of() : all.keySet().stream().map(String.class::cast).toList();
        for (String name : names) {
            Object value = all.get(name);
            if (!(value instanceof Map<?, ?>)) {
                String table = "hypervisor." + Locator.tomlKey(name);
                throw error(file, doc.origin("hypervisor", name), table,
                        "expected a [" + table + "] table, got " + Locator.show(value));
            }
        }
        Object named = doc.root().get("runtime") instanceof Map<?, ?> runtime ? runtime.get("hypervisor_name") : null;
        if (named != null) {
            Origin where = doc.origin("runtime", "hypervisor_name");
            if (!(named instanceof String name)) {
                throw error(file, where, "runtime.hypervisor_name",
                        "expected a string naming a [hypervisor.NAME] table, got " + Locator.show(named));
            }
            if (!names.contains(name)) {
                throw error(file, where, "runtime.hypervisor_name", Locator.show(name)
                        + " names no [hypervisor." + Locator.tomlKey(name) + "] table (" + tablesIn(names) + ")");
            }
            return name;
        }
        if (names.isEmpty()) {
            String problem = "no [hypervisor.NAME] table: expected one, e.g. [hypervisor.qemu]";
            if (hypervisors == null) {
                throw Locator.configError(file, 0, 0, null, problem);
            }
            throw error(file, doc.origin("hypervisor"), "hypervisor", problem);
        }
        if (names.size() > 1) {
            List<String> sorted = names.stream().sorted().toList();
            throw error(file, doc.origin("hypervisor", names.get(1)), "hypervisor",
                    "several hypervisor tables (" + String.join(", ", sorted.stream().map(Locator::tomlKey).toList())
                            + ") and no [runtime] hypervisor_name to choose one");
        }
        return names.get(0);
    }

    private static String tablesIn(List<String> names) {
        return names.isEmpty() ? "the file has no [hypervisor.NAME] table"
                : "tables in the file: " + String.join(", ", names.stream().sorted().map(Locator::tomlKey).toList());
    }

    private static ConfigException error(Path file, Origin o, String key, String problem) {
        return Locator.configError(o.file() != null ? o.file() : file, o.line(), o.column(), key, problem);
    }

    /**
     * The position of the value of the key that tomlj places at
     * {@code keyPosition}: the first character after the key's {@code =}.
     * Falls back to the key's own position (a table header, say).
     */
    static Origin valueOrigin(List<String> lines, TomlPosition keyPosition) {
        if (keyPosition == null) {
            return Origin.DEFAULT;
        }
        int line = keyPosition.line();
        int column = keyPosition.column();
        if (line < 1 || line > lines.size()) {
            return Origin.at(line, column);
        }
        String text = lines.get(line - 1);
        char quote = 0;
        for (int i = column - 1; i >= 0 && i < text.length(); i++) {
            char c = text.charAt(i);
            if (quote != 0) {
                if (c == quote) {
                    quote = 0;
                } else if (c == '\\' && quote == '"') {
                    i++;
                }
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if (c == '=') {
                int v = i + 1;
                while (v < text.length() && (text.charAt(v) == ' ' || text.charAt(v) == '\t')) {
                    v++;
                }
                return v < text.length() ? Origin.at(line, v + 1) : Origin.at(line, column);
            } else if (c == '[' || c == '#') {
                break;
            }
        }
        return Origin.at(line, column);
    }

    private static Comparator<String> byPosition(TomlTable table) {
        return Comparator.comparing((String k) -> table.inputPositionOf(List.of(k)),
                Comparator.nullsLast(Comparator.comparingInt(TomlPosition::line)
                        .thenComparingInt(TomlPosition::column)));
    }

    /**
     * Both Kata decoders read every {@code [hypervisor.NAME]} table into a struct with no
     * date field: a TOML date for a key they read is an error there (Go's decoder cannot
     * put a datetime into a string), not the date's text.
     */
    @SuppressWarnings("unchecked")
    private static void refuseDates(Map<String, Object> all, Doc doc, Path source, KataRuntime runtime) {
        Set<String> read = new java.util.HashSet<>(KnownKeys.kata(runtime, "hypervisor"));
        read.addAll(KnownKeys.hvspi());
        for (Map.Entry<String, Object> table : all.entrySet()) {
            Locator at = new Locator(source, table.getKey(), doc.originsIn(table.getKey()), runtime);
            ((Map<String, Object>) table.getValue()).forEach((key, value) -> {
                boolean date = value instanceof TemporalAccessor
                        || value instanceof List<?> list && list.stream().anyMatch(TemporalAccessor.class::isInstance);
                if (date && read.contains(key)) {
                    throw at.error(key, "got the TOML date " + (value instanceof List ? "in " + value : value)
                            + ": no Kata key takes a date (Kata's TOML decoders refuse it)");
                }
            });
        }
    }

    /** {@code value} with its dates (of keys Kata does not read) as their TOML text, for plugins. */
    private static Object datesAsText(Object value) {
        return switch (value) {
            case Map<?, ?> map -> {
                Map<String, Object> out = new LinkedHashMap<>();
                map.forEach((k, v) -> out.put((String) k, datesAsText(v)));
                yield Collections.unmodifiableMap(out);
            }
            case List<?> list -> list.stream().map(KataConfigLoader::datesAsText).toList();
            case TemporalAccessor date -> date.toString();
            default -> value;
        };
    }

    /** tomlj values as plain Java values: tables as maps in file order, arrays as lists, dates kept. */
    static Object plain(Object value) {
        if (value instanceof TomlTable table) {
            List<String> keys = new ArrayList<>(table.keySet());
            keys.sort(byPosition(table));
            Map<String, Object> map = new LinkedHashMap<>();
            for (String key : keys) {
                map.put(key, plain(table.get(List.of(key))));
            }
            return Collections.unmodifiableMap(map);
        }
        if (value instanceof TomlArray array) {
            List<Object> list = new ArrayList<>(array.size());
            for (int i = 0; i < array.size(); i++) {
                list.add(plain(array.get(i)));
            }
            return List.copyOf(list);
        }
        return value;
    }
}
