package io.hvspi.tck;

import io.hvspi.spi.Capability;
import java.lang.reflect.Method;
import java.util.Collections;
import java.util.EnumSet;
import java.util.Set;

/**
 * What the kit exercises, read from its own contract classes: every capability
 * some contract test names with {@link Exercises}. The rule "a bundled plugin
 * declares only what the kit exercises" is checked against this set, and the
 * compatibility report's "not exercised" list is its complement.
 */
public final class KitCatalogue {
    private KitCatalogue() {}

    /** The capabilities at least one contract test of {@link HypervisorContract} exercises. */
    public static Set<Capability> exercised() {
        Set<Capability> out = EnumSet.noneOf(Capability.class);
        for (Class<?> nested : HypervisorContract.class.getDeclaredClasses()) {
            for (Class<?> c = nested; c != null && c != Object.class; c = c.getSuperclass()) {
                for (Method m : c.getDeclaredMethods()) {
                    Exercises e = m.getAnnotation(Exercises.class);
                    if (e != null) {
                        out.add(e.value());
                    }
                }
            }
        }
        return Collections.unmodifiableSet(out);
    }

    /** The capabilities in {@code declared} that no contract test exercises. */
    public static Set<Capability> notExercised(Set<Capability> declared) {
        Set<Capability> out = EnumSet.noneOf(Capability.class);
        out.addAll(declared);
        out.removeAll(exercised());
        return out;
    }
}
