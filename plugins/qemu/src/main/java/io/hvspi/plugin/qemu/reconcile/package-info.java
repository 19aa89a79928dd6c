/** Settling a reattached VM's record against what QEMU really has: intents left by a dead process, and drift. */
package io.hvspi.plugin.qemu.reconcile;
