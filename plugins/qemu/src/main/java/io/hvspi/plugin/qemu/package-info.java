/**
 * hvspi's QEMU plugin: {@link io.hvspi.plugin.qemu.QemuHypervisorFactory} (the pf4j
 * extension) and {@link io.hvspi.plugin.qemu.QemuHypervisor} (one VM). One package
 * per role, as libvirt's QEMU driver has one file per role: {@code qmp} (the wire
 * protocol), {@code cmdline} (argv), {@code probe} (capabilities of the binary),
 * {@code process} (spawn and stop), {@code iothread} (the pool), {@code hotplug}
 * (block devices), {@code state} (what is persisted for reattach).
 */
package io.hvspi.plugin.qemu;
