/**
 * The compatibility kit: JUnit 5 contract classes every hypervisor plugin runs.
 *
 * <p>A plugin's test extends {@link io.hvspi.tck.HypervisorContract}, supplies a
 * {@link io.hvspi.tck.backend.TckBackend} and one exhaustive switch over
 * {@link io.hvspi.spi.Capability}. Each capability-guarded test passes only when
 * a capability the VM has works and one it lacks fails with
 * {@link io.hvspi.spi.UnsupportedCapabilityException}, so a wrong declaration
 * fails in either direction. {@code hvctl compat} runs the same classes
 * ({@link io.hvspi.tck.compat.CompatRunner}) against every installed plugin.
 */
package io.hvspi.tck;
