package io.hvspi.plugin.qemu;

/**
 * The compatibility kit on the other Debian release's QEMU ({@link QemuBinary#other()}):
 * on QEMU 10 the vq-mapping contract runs for real; on 7.2 it checks the clean refusal.
 */
class QemuKitOnOtherQemuTest extends QemuKitTest {
    @Override
    QemuBinary qemu() {
        return QemuBinary.other();
    }
}
