package io.hvspi.plugin.qemu;

/** {@link QemuHazardsTest} on the other Debian release's QEMU ({@link QemuBinary#other()}). */
class QemuHazardsOnOtherQemuTest extends QemuHazardsTest {
    @Override
    QemuBinary qemu() {
        return QemuBinary.other();
    }
}
