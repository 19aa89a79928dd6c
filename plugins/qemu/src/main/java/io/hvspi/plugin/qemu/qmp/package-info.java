/** The QEMU Machine Protocol: a client with ids, timeouts, events and a line cap (see docs/qmp.md). */
package io.hvspi.plugin.qemu.qmp;
