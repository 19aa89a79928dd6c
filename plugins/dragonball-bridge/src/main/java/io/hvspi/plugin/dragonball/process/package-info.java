/** The bridge sidecar process, when hvspi starts it from {@code [hypervisor.dragonball] path}. */
package io.hvspi.plugin.dragonball.process;
