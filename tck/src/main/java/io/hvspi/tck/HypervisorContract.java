package io.hvspi.tck;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hvspi.spi.Capability;
import io.hvspi.tck.backend.TckBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.ClassOrderer;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.TestClassOrder;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import java.util.concurrent.TimeUnit;

/**
 * The whole compatibility kit for one plugin. A plugin's test extends it, says
 * how to get VMs ({@link #createBackend()}) and decides every capability in one
 * exhaustive {@code switch} ({@link #expect}); it inherits every contract below
 * as a nested class.
 *
 * <pre>{@code
 * class QemuKitTest extends HypervisorContract {
 *     @Override protected TckBackend createBackend() {
 *         return new QemuTckBackend(new QemuHypervisorFactory(), QemuTckBackend.locate().orElseThrow(), workDir);
 *     }
 *     @Override protected CapabilityExpectation expect(Capability c) {
 *         return switch (c) {
 *             case BLOCK_DEVICE, BLOCK_DEVICE_HOTPLUG, INDEPENDENT_IOTHREADS -> SUPPORTED;
 *             case IOTHREAD_VQ_MAPPING -> DEPENDS_ON_BINARY;
 *             case HYBRID_VSOCK, ... -> UNSUPPORTED;
 *         };
 *     }
 * }
 * }</pre>
 *
 * <p>One backend serves the whole class; each test makes and stops its own VMs.
 * A backend that cannot run here ({@link TckBackend#unavailableReason()})
 * skips the class with its reason.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestClassOrder(ClassOrderer.OrderAnnotation.class)
public abstract class HypervisorContract {
    private TckKit kit;

    /** How this plugin's VMs are made here. Called once, before the first test. */
    protected abstract TckBackend createBackend();

    /**
     * The plugin's decision for each capability: write it as one {@code switch}
     * over {@link Capability} without a {@code default}, so that a new capability
     * does not compile until this plugin decides.
     */
    protected abstract CapabilityExpectation expect(Capability capability);

    @BeforeAll
    final void openBackend() {
        TckBackend backend = createBackend();
        kit = new TckKit(backend, this::expect);
        assumeTrue(backend.unavailableReason().isEmpty(),
                () -> "unavailable: " + backend.unavailableReason().orElse(""));
    }

    @AfterAll
    @Timeout(value = 10, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    final void closeBackend() {
        if (kit != null) {
            kit.close();
        }
    }

    /** The kit, for a plugin's own extra tests. */
    protected final TckKit kit() {
        return kit;
    }

    @Nested
    @Order(1)
    class Declaration extends CapabilityContract {
        Declaration() {
            super(HypervisorContract.this.kit);
        }
    }

    @Nested
    @Order(2)
    class Lifecycle extends LifecycleContract {
        Lifecycle() {
            super(HypervisorContract.this.kit);
        }
    }

    @Nested
    @Order(3)
    class BlockHotplug extends BlockHotplugContract {
        BlockHotplug() {
            super(HypervisorContract.this.kit);
        }
    }

    @Nested
    @Order(7)
    class NetworkHotplug extends NetworkHotplugContract {
        NetworkHotplug() {
            super(HypervisorContract.this.kit);
        }
    }

    @Nested
    @Order(4)
    class IOThreads extends IOThreadContract {
        IOThreads() {
            super(HypervisorContract.this.kit);
        }
    }

    @Nested
    @Order(5)
    class Errors extends ErrorContract {
        Errors() {
            super(HypervisorContract.this.kit);
        }
    }

    @Nested
    @Order(6)
    class Events extends EventContract {
        Events() {
            super(HypervisorContract.this.kit);
        }
    }
}
