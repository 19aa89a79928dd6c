/** QEMU's argument list from a VmSpec: option-list escaping, QEMU's id grammar, the plan of ids it creates. */
package io.hvspi.plugin.qemu.cmdline;
