/**
 * The hvspi service provider interface: what a hypervisor plugin implements and
 * what a runtime calls.
 *
 * <p>A plugin contributes one {@link io.hvspi.spi.HypervisorFactory} (a pf4j
 * extension) per VMM type. The factory creates {@link io.hvspi.spi.Hypervisor}
 * instances, one per VM. Optional features are reached through
 * {@link java.util.Optional} views ({@link io.hvspi.spi.Hypervisor#ioThreads()},
 * {@link io.hvspi.spi.Hypervisor#hotplug()}) and are described by
 * {@link io.hvspi.spi.Capability}. An operation a plugin does not support throws
 * {@link io.hvspi.spi.UnsupportedCapabilityException}; it is never a silent no-op.
 * The one exception is the default of
 * {@link io.hvspi.spi.HypervisorFactory#follow HypervisorFactory.follow}, which no
 * {@link io.hvspi.spi.Capability} describes: it refuses with a plain
 * {@link io.hvspi.spi.HvspiException} (see there).
 *
 * <p>This package holds interfaces and value types only, and depends on nothing
 * but pf4j. It is versioned by {@link io.hvspi.spi.SpiVersion}.
 */
package io.hvspi.spi;
