/** The plugin state saved as VmRecord.pluginState after every confirmed change, read by reattach. */
package io.hvspi.plugin.qemu.state;
