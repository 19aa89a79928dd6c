package io.hvspi.tck.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.platform.launcher.EngineFilter;
import org.junit.platform.launcher.core.LauncherConfig;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

/** Where the collector says a launch is, which is what a plugin given up at its deadline is told. */
class ResultCollectorTest {
    static final CountDownLatch inAfterAll = new CountDownLatch(1);
    static final CountDownLatch release = new CountDownLatch(1);
    /** Only this test runs {@link Sample} for real (surefire leaves nested classes alone anyway). */
    static volatile boolean armed;

    /** A class whose {@code @AfterAll} blocks until released: cleanup that hangs. */
    static class Sample {
        @Test
        void onlyTest() {
        }

        @AfterAll
        static void cleanupThatHangs() throws InterruptedException {
            if (armed) {
                inAfterAll.countDown();
                release.await(120, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void aHangAfterTheLastTestIsTheCleanupNotThatTest() throws InterruptedException {
        ResultCollector collector = new ResultCollector();
        assertEquals("the kit's setup", collector.where());
        armed = true;
        Thread launch = Thread.ofPlatform().daemon().start(() -> LauncherFactory.create(LauncherConfig.builder()
                        .enableTestExecutionListenerAutoRegistration(false).build())
                .execute(LauncherDiscoveryRequestBuilder.request().selectors(selectClass(Sample.class))
                        .filters(EngineFilter.includeEngines("junit-jupiter")).build(), collector));
        try {
            assertTrue(inAfterAll.await(60, TimeUnit.SECONDS), "the sample's @AfterAll did not run");
            assertEquals("the kit's cleanup, after other.onlyTest", collector.where(),
                    "a hang in @AfterAll is not in the test that finished before it");
        } finally {
            release.countDown();
            launch.join(Duration.ofSeconds(60));
            armed = false;
        }
    }
}
