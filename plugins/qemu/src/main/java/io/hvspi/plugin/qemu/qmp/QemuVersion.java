package io.hvspi.plugin.qemu.qmp;

/** A QEMU version as QMP reports it ({@code {"major": 7, "minor": 2, "micro": 22}}). */
public record QemuVersion(int major, int minor, int micro) implements Comparable<QemuVersion> {

    /** True when this version is {@code major.minor} or newer. */
    public boolean atLeast(int wantMajor, int wantMinor) {
        return major > wantMajor || (major == wantMajor && minor >= wantMinor);
    }

    @Override
    public int compareTo(QemuVersion o) {
        int c = Integer.compare(major, o.major);
        if (c == 0) {
            c = Integer.compare(minor, o.minor);
        }
        return c != 0 ? c : Integer.compare(micro, o.micro);
    }

    @Override
    public String toString() {
        return major + "." + minor + "." + micro;
    }
}
