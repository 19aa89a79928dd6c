package io.hvspi.cli;

import io.hvspi.spi.CpuSet;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** {@code --pin ID=CPUS}: an IOThread id and a CPU list such as {@code 0-3,6}. */
record PinOption(String id, CpuSet cpus) {

    /** Checks the form here, so that a typo is a usage error (exit 2) naming the option's value. */
    static final class Converter implements ITypeConverter<PinOption> {
        @Override
        public PinOption convert(String value) {
            int eq = value.indexOf('=');
            if (eq <= 0 || eq == value.length() - 1) {
                throw new TypeConversionException("'" + value + "' is not ID=CPUS (e.g. indep_iothread_0=2-3)");
            }
            try {
                return new PinOption(value.substring(0, eq), CpuSet.parse(value.substring(eq + 1)));
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException("CPUS in '" + value + "': " + e.getMessage());
            }
        }
    }
}
