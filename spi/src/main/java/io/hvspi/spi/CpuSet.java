package io.hvspi.spi;

import java.util.BitSet;
import java.util.List;
import java.util.Objects;
import java.util.stream.IntStream;

/**
 * A non-empty set of host CPU numbers, written as Linux writes it in
 * {@code Cpus_allowed_list} and {@code cpuset.cpus}: ranges and single numbers
 * separated by commas, e.g. {@code 0-3,6}. {@link #toString()} gives the
 * canonical form (ascending, ranges merged), so two equal sets print the same.
 */
public final class CpuSet {
    /** The largest CPU number accepted: Linux's {@code CONFIG_NR_CPUS} is at most 8192. */
    public static final int MAX_CPU = 8191;

    private final BitSet cpus;

    private CpuSet(BitSet cpus) {
        this.cpus = cpus;
    }

    /**
     * Parses {@code 0-3,6}; blanks around numbers are allowed, an empty set is not.
     *
     * @throws IllegalArgumentException naming the part that is wrong
     */
    public static CpuSet parse(String text) {
        Objects.requireNonNull(text, "text");
        if (text.isBlank()) {
            throw new IllegalArgumentException("a CPU set is a list such as \"0-3,6\", got an empty string");
        }
        BitSet set = new BitSet();
        for (String part : text.split(",", -1)) {
            String p = part.strip();
            int dash = p.indexOf('-');
            int from = number(dash < 0 ? p : p.substring(0, dash), text);
            int to = dash < 0 ? from : number(p.substring(dash + 1), text);
            if (to < from) {
                throw new IllegalArgumentException("CPU range \"" + p + "\" in \"" + text + "\" runs backwards");
            }
            set.set(from, to + 1);
        }
        return new CpuSet(set);
    }

    private static int number(String s, String whole) {
        String t = s.strip();
        if (t.isEmpty() || t.length() > 5 || !digits(t)) {
            throw new IllegalArgumentException("\"" + whole + "\" is not a CPU set such as \"0-3,6\" (at \"" + s + "\")");
        }
        int n = Integer.parseInt(t);
        if (n > MAX_CPU) {
            throw new IllegalArgumentException("CPU " + n + " in \"" + whole + "\" is above " + MAX_CPU);
        }
        return n;
    }

    /** A loop, not a stream: every IOThread listing parses each IOThread's affinity. */
    private static boolean digits(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) < '0' || s.charAt(i) > '9') {
                return false;
            }
        }
        return true;
    }

    /** The set of the given CPUs; at least one, each 0..{@link #MAX_CPU}. */
    public static CpuSet of(int... cpus) {
        if (cpus.length == 0) {
            throw new IllegalArgumentException("a CPU set needs at least one CPU");
        }
        BitSet set = new BitSet();
        for (int c : cpus) {
            if (c < 0 || c > MAX_CPU) {
                throw new IllegalArgumentException("CPU " + c + " is outside 0.." + MAX_CPU);
            }
            set.set(c);
        }
        return new CpuSet(set);
    }

    /** The CPUs in ascending order. */
    public List<Integer> cpus() {
        return stream().boxed().toList();
    }

    public IntStream stream() {
        return cpus.stream();
    }

    public boolean contains(int cpu) {
        return cpu >= 0 && cpus.get(cpu);
    }

    public int size() {
        return cpus.cardinality();
    }

    /** The highest CPU number in the set. */
    public int highest() {
        return cpus.length() - 1;
    }

    /** True when every CPU of this set is in {@code other}. */
    public boolean isSubsetOf(CpuSet other) {
        BitSet rest = (BitSet) cpus.clone();
        rest.andNot(other.cpus);
        return rest.isEmpty();
    }

    /** The CPUs of this set that {@code other} lacks, empty when none. */
    public List<Integer> missingFrom(CpuSet other) {
        BitSet rest = (BitSet) cpus.clone();
        rest.andNot(other.cpus);
        return rest.stream().boxed().toList();
    }

    /** The canonical list form, e.g. {@code 0-3,6}. */
    @Override
    public String toString() {
        StringBuilder b = new StringBuilder();
        int from = cpus.nextSetBit(0);
        while (from >= 0) {
            int to = cpus.nextClearBit(from) - 1;
            if (!b.isEmpty()) {
                b.append(',');
            }
            b.append(from);
            if (to > from) {
                b.append('-').append(to);
            }
            from = cpus.nextSetBit(to + 1);
        }
        return b.toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CpuSet other && cpus.equals(other.cpus);
    }

    @Override
    public int hashCode() {
        return cpus.hashCode();
    }
}
