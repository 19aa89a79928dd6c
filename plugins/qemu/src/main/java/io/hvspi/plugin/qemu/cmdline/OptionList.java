package io.hvspi.plugin.qemu.cmdline;

import java.util.ArrayList;
import java.util.List;

/**
 * One QEMU option list, e.g. {@code iothread,id=indep_iothread_0} or
 * {@code file,id=console,path=/run/x,,y/console.log}. QEMU splits such values at
 * commas and reads {@code ,,} as a literal comma, so every value is escaped by
 * doubling its commas; a value cannot inject another key.
 */
public final class OptionList {
    private final List<String> parts = new ArrayList<>();

    private OptionList(String head) {
        if (head != null) {
            parts.add(escape(head));
        }
    }

    /** A list that starts with an implied value (a type or driver), e.g. {@code iothread}. */
    public static OptionList of(String head) {
        return new OptionList(head);
    }

    /** A list of key=value pairs only. */
    public static OptionList keys() {
        return new OptionList(null);
    }

    public OptionList with(String key, String value) {
        parts.add(key + "=" + escape(value));
        return this;
    }

    public OptionList with(String key, long value) {
        return with(key, Long.toString(value));
    }

    /** {@code on} or {@code off}, QEMU's boolean spelling. */
    public OptionList with(String key, boolean value) {
        return with(key, value ? "on" : "off");
    }

    /** Doubles every comma, QEMU's escape in option lists. */
    public static String escape(String value) {
        return value.replace(",", ",,");
    }

    @Override
    public String toString() {
        return String.join(",", parts);
    }
}
