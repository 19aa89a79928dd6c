/**
 * Kata Containers {@code configuration.toml}: loading ({@link io.hvspi.core.config.KataConfigLoader}),
 * the typed hypervisor table ({@link io.hvspi.core.config.HypervisorConfig}), the
 * annotation policy ({@link io.hvspi.core.config.AnnotationPolicy}) and the mapping
 * to the SPI's {@link io.hvspi.spi.VmSpec}. {@code docs/configuration.md} is the
 * reference for every key.
 */
package io.hvspi.core.config;
