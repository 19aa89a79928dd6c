/** Block hotplug: root ports and SCSI addresses, QMP arguments, attach, detach and move. */
package io.hvspi.plugin.qemu.hotplug;
