/** QEMU as a process: spawn, adopt by pid, the runtime directory's layout, kill. */
package io.hvspi.plugin.qemu.process;
