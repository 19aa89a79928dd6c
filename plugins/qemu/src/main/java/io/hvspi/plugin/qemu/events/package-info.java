/** hvspi's own events of a QEMU VM, journalled for followers in other processes. */
package io.hvspi.plugin.qemu.events;
