package io.hvspi.spi;

import java.util.Objects;

/**
 * The uniform "not supported" error: the hypervisor (or the binary it probed)
 * lacks a capability the operation needs. Plugins throw it from every operation
 * that depends on a capability they do not have, never doing nothing instead.
 */
public class UnsupportedCapabilityException extends HvspiException {
    private static final long serialVersionUID = 1L;

    private final Capability capability;
    private final String hypervisorType;

    public UnsupportedCapabilityException(Capability capability, String hypervisorType) {
        this(capability, hypervisorType, null);
    }

    /** @param detail why, e.g. "QEMU 7.2 has no iothread-vq-mapping"; may be null */
    public UnsupportedCapabilityException(Capability capability, String hypervisorType, String detail) {
        super("hypervisor '" + hypervisorType + "' does not support " + capability.label()
                + " (capability " + capability.key() + ")" + (detail == null ? "" : ": " + detail));
        this.capability = Objects.requireNonNull(capability);
        this.hypervisorType = Objects.requireNonNull(hypervisorType);
    }

    public Capability capability() {
        return capability;
    }

    public String hypervisorType() {
        return hypervisorType;
    }
}
