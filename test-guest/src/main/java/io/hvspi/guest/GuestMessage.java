package io.hvspi.guest;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * One protocol line from the test guest: {@code HVSPI <VERB> [ARG...] [KEY=VALUE...]}
 * (docs/test-guest.md). Anything on the console before {@code HVSPI } on the same
 * line, and every line without it, is kernel noise and never becomes a message.
 *
 * @param verb e.g. {@code READY}, {@code DISK-ADDED}, {@code FIO}, {@code ERROR}
 * @param args the words after the verb that are not {@code KEY=VALUE}, in order
 * @param fields the {@code KEY=VALUE} words, in order
 * @param text everything after the verb, unparsed (the free-text message of {@code ERROR} and {@code LOG})
 */
public record GuestMessage(String verb, List<String> args, Map<String, String> fields, String text) {
    /** What starts every protocol line. */
    public static final String PREFIX = "HVSPI ";

    private static final Pattern FIELD = Pattern.compile("[A-Za-z0-9_.-]+=.*");

    public GuestMessage {
        args = List.copyOf(args);
        fields = Collections.unmodifiableMap(new LinkedHashMap<>(fields));
    }

    /** The message in a console line, if the line carries one. */
    public static Optional<GuestMessage> parse(String line) {
        int at = line.indexOf(PREFIX);
        if (at < 0) {
            return Optional.empty();
        }
        String rest = line.substring(at + PREFIX.length()).strip();
        if (rest.isEmpty()) {
            return Optional.empty();
        }
        int space = rest.indexOf(' ');
        String verb = space < 0 ? rest : rest.substring(0, space);
        String text = space < 0 ? "" : rest.substring(space + 1).strip();
        List<String> args = new ArrayList<>();
        Map<String, String> fields = new LinkedHashMap<>();
        for (String word : text.split(" +")) {
            if (word.isEmpty()) {
                continue;
            }
            if (FIELD.matcher(word).matches()) {
                int eq = word.indexOf('=');
                fields.putIfAbsent(word.substring(0, eq), word.substring(eq + 1));
            } else {
                args.add(word);
            }
        }
        return Optional.of(new GuestMessage(verb, args, fields, text));
    }

    /** The {@code i}-th positional argument, or empty. */
    public Optional<String> arg(int i) {
        return i < args.size() ? Optional.of(args.get(i)) : Optional.empty();
    }

    /** A field's value, or empty. */
    public Optional<String> field(String key) {
        return Optional.ofNullable(fields.get(key));
    }

    /** A field that must be there, for typed accessors. */
    String required(String key) {
        return field(key).orElseThrow(() -> new GuestException(
                "guest message '" + this + "' lacks field '" + key + "'"));
    }

    long requiredLong(String key) {
        String value = required(key);
        try {
            return Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new GuestException("guest message '" + this + "': field '" + key + "' is not a number: " + value);
        }
    }

    double requiredDouble(String key) {
        String value = required(key);
        try {
            return Double.parseDouble(value);
        } catch (NumberFormatException e) {
            throw new GuestException("guest message '" + this + "': field '" + key + "' is not a number: " + value);
        }
    }

    /** True for {@code HVSPI ERROR <command> ...}. */
    public boolean isErrorFor(String command) {
        return verb.equals("ERROR") && arg(0).filter(command::equals).isPresent();
    }

    /** The protocol line, as the guest wrote it (minus leading noise). */
    @Override
    public String toString() {
        return PREFIX + verb + (text.isEmpty() ? "" : " " + text);
    }
}
