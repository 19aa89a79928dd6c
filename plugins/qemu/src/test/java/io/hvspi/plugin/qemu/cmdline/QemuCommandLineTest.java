package io.hvspi.plugin.qemu.cmdline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.plugin.qemu.TestVms;
import io.hvspi.plugin.qemu.process.RuntimeLayout;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.VmSpec;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** VmSpec to argv, against golden files; escaping and id checks. */
class QemuCommandLineTest {

    private static QemuCommandLine.Plan build(VmSpec spec) {
        return QemuCommandLine.build(spec, new RuntimeLayout(Path.of("/run/hvspi", spec.vmId())));
    }

    @Test
    void virtioBlkWithoutIOThreads() {
        QemuCommandLine.Plan plan = build(TestVms.spec("blk-off", 0, IOThreadPolicy.LEAST_LOADED, "virtio-blk-pci", 2));
        GoldenArgv.assertMatches("virtio-blk-iothreads-off", plan.argv());
        assertEquals(List.of(), plan.pool());
        assertEquals(List.of("rp0", "rp1"), plan.rootPorts());
    }

    @Test
    void virtioBlkWithKatasIndependentPool() {
        QemuCommandLine.Plan plan = build(TestVms.spec("blk-on", 4, IOThreadPolicy.LEAST_LOADED, "virtio-blk-pci", 4));
        GoldenArgv.assertMatches("virtio-blk-iothreads-on", plan.argv());
        assertEquals(List.of("indep_iothread_0", "indep_iothread_1", "indep_iothread_2", "indep_iothread_3"),
                plan.pool());
        assertTrue(plan.argv().contains("iothread,id=indep_iothread_3"));
        assertTrue(plan.scsiIoThread().isEmpty());
    }

    @Test
    void virtioScsiWithIOThreadsGivesTheControllerItsOwn() {
        QemuCommandLine.Plan plan = build(TestVms.spec("scsi-on", 2, IOThreadPolicy.FIRST, "virtio-scsi", 1));
        GoldenArgv.assertMatches("virtio-scsi-iothreads-on", plan.argv());
        assertEquals(Optional.of("scsi-io-thread"), plan.scsiIoThread());
        assertTrue(plan.argv().contains("virtio-scsi-pci,id=scsi0,bus=pcie.0,iothread=scsi-io-thread"));
    }

    @Test
    void virtioScsiWithoutIOThreads() {
        QemuCommandLine.Plan plan = build(TestVms.spec("scsi-off", 0, IOThreadPolicy.FIRST, "virtio-scsi", 1));
        GoldenArgv.assertMatches("virtio-scsi-iothreads-off", plan.argv());
        assertTrue(plan.scsiController());
        assertTrue(plan.scsiIoThread().isEmpty());
    }

    @Test
    void aGuestWithKernelInitrdImageAndCommasInPaths() {
        VmSpec base = TestVms.spec("guest", 1, IOThreadPolicy.LEAST_LOADED, "virtio-blk-pci", 1);
        VmSpec spec = base.toBuilder().binary(Path.of("/opt/qemu,x/bin/qemu-system-x86_64"))
                .kernel(Optional.of(Path.of("/boot/vmlinuz,1"))).initrd(Optional.of(Path.of("/boot/initrd.img")))
                .image(Optional.of(Path.of("/images/root,ro.img"))).kernelParams("console=ttyS0 quiet").vcpus(4)
                .memoryMib(2048).accel("kvm").build();
        List<String> argv = QemuCommandLine.build(spec, new RuntimeLayout(Path.of("/run/hv,spi/guest"))).argv();
        GoldenArgv.assertMatches("guest-kernel-image-commas", argv);
        // option-list values escape commas; plain-string options (-kernel, -append) and the binary do not
        assertTrue(argv.contains("socket,id=qmp,path=/run/hv,,spi/guest/qmp.sock,server=on,wait=off"));
        assertTrue(argv.contains("driver=raw,node-name=image,read-only=on,file.driver=file,"
                + "file.filename=/images/root,,ro.img"));
        assertEquals("/boot/vmlinuz,1", argv.get(argv.indexOf("-kernel") + 1));
        assertEquals("console=ttyS0 quiet", argv.get(argv.indexOf("-append") + 1));
        assertEquals("/opt/qemu,x/bin/qemu-system-x86_64", argv.get(0));
    }

    @Test
    void everyRunStartsPausedAndNamesThreads() {
        List<String> argv = build(TestVms.spec("p", 0, IOThreadPolicy.FIRST)).argv();
        assertTrue(argv.contains("-S"), "hvspi resumes after probing, as libvirt does");
        assertEquals("p,debug-threads=on", argv.get(argv.indexOf("-name") + 1));
        assertEquals("q35,accel=tcg", argv.get(argv.indexOf("-machine") + 1));
    }

    @Test
    void aVmIdOutsideQemusGrammarIsRefused() {
        VmSpec spec = TestVms.spec("ok", 0, IOThreadPolicy.FIRST).withVmId("vm,debug-threads=off");
        assertEquals(RequestRejectedException.Reason.INVALID_ARGUMENT,
                assertThrows(RequestRejectedException.class, () -> build(spec)).reason());
    }
}
