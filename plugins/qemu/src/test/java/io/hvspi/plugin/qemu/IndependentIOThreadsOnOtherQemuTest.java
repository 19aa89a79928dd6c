package io.hvspi.plugin.qemu;

/**
 * {@link IndependentIOThreadsTest} on the other Debian release's QEMU (10.0 on Debian 12,
 * 7.2 on Debian 13; see {@link QemuBinary#other()}), so that every version-dependent
 * path of the pool, hotplug and vq-mapping runs on both real binaries.
 */
class IndependentIOThreadsOnOtherQemuTest extends IndependentIOThreadsTest {
    @Override
    QemuBinary qemu() {
        return QemuBinary.other();
    }
}
