/** What a QEMU binary can do, from query-version, query-commands and device-list-properties. */
package io.hvspi.plugin.qemu.probe;
