/** Checks of what a caller asks of a device: ids, and capabilities the VM must have. */
package io.hvspi.kit.device;
