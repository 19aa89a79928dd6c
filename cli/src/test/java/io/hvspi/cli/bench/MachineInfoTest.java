package io.hvspi.cli.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** What a benchmark's report says about the JVM: its version and the options that set its JIT. */
class MachineInfoTest {
    @Test
    void theJitOptionsFollowTheVersionAndNothingElseDoes() {
        assertEquals("25.0.3+9-LTS with -XX:TieredStopAtLevel=1 -XX:CompileCommand=CompileThresholdScaling,"
                + "io.hvspi.*::*,0.05", MachineInfo.java("25.0.3+9-LTS", List.of("--enable-native-access=ALL-UNNAMED",
                "-XX:AOTCache=/opt/hvctl/lib/hvctl.aot", "-XX:TieredStopAtLevel=1", "-XX:CompileCommand=quiet",
                "-XX:CompileCommand=CompileThresholdScaling,io.hvspi.*::*,0.05", "-Dhvspi.home=/opt/hvctl")));
        assertEquals("25.0.3+9-LTS", MachineInfo.java("25.0.3+9-LTS", List.of("-Xmx1g", "-Dhvspi.home=/x")));
        assertEquals("21.0.5+11 with -Xint", MachineInfo.java("21.0.5+11", List.of("-Xint")));
    }
}
