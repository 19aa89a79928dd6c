/** The independent IOThread pool: accounting with reservations, and the SPI's IOThreadProvider. */
package io.hvspi.plugin.qemu.iothread;
