package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every numeric option of hvctl is checked when parsed: zero, negative, overflow
 * and garbage exit 2 with one error line naming the option, before any command
 * body runs (so never exit 70 with a stack trace).
 */
class NumericOptionsTest {
    @TempDir
    static Path runtime;

    static Stream<Arguments> badValues() {
        List<Arguments> cases = new ArrayList<>();
        // vm hotplug VM --id D --null MIB | --queues N | --iothread CHOICE
        for (String v : List.of("0", "-1", "9223372036854775807", "8796093022208", "99999999999999999999", "x", "1.5", "")) {
            cases.add(Arguments.of("--null", List.of("vm", "hotplug", "vm1", "--id", "d1", "--null", v)));
        }
        for (String v : List.of("0", "-1", "1025", "2147483648", "many")) {
            cases.add(Arguments.of("--queues", List.of("vm", "hotplug", "vm1", "--id", "d1", "--null", "1", "--queues", v)));
        }
        for (String v : List.of(",", "", "a,", ",a", "a,,b")) {
            cases.add(Arguments.of("--iothread", List.of("vm", "hotplug", "vm1", "--id", "d1", "--null", "1", "--iothread", v)));
            cases.add(Arguments.of("--iothread", List.of("vm", "move", "vm1", "d1", "--iothread", v)));
        }
        // vm iothreads VM --poll ID:MAX_NS[:GROW:SHRINK]
        for (String v : List.of("io0:-1", "io0:1:-2:3", "io0:1:2:-3", "io0:9223372036854775808", "io0:x", "io0",
                ":5", "io0:1:2", "io0:1:2:3:4")) {
            cases.add(Arguments.of("--poll", List.of("vm", "iothreads", "vm1", "--poll", v)));
        }
        // vm iothreads VM --pin ID=CPUS
        for (String v : List.of("io0", "io0=", "=1", "io0=3-1", "io0=x", "io0=-1", "io0=8192", "io0=1,,2")) {
            cases.add(Arguments.of("--pin", List.of("vm", "iothreads", "vm1", "--pin", v)));
        }
        // seconds: vm unplug --wait, and the shared --timeout
        for (String v : List.of("0", "-1", "NaN", "Infinity", "1e300", "0.0001", "soon", "10d", "10f", "0x1p3", "1e3",
                "+5", "1_0")) {
            cases.add(Arguments.of("--wait", List.of("vm", "unplug", "vm1", "d1", "--wait", v)));
            cases.add(Arguments.of("--timeout", List.of("vm", "status", "vm1", "--timeout", v)));
        }
        for (String v : List.of("-1", "100001", "2147483648", "four")) {
            cases.add(Arguments.of("--disks", List.of("run", "--disks", v)));
        }
        // bench options
        for (String v : List.of("0", "-1", "2147483648", "x")) {
            cases.add(Arguments.of("--iterations", List.of("bench", "hotplug", "--iterations", v)));
            cases.add(Arguments.of("--starts", List.of("bench", "hotplug", "--starts", v)));
            cases.add(Arguments.of("--runtime", List.of("bench", "io", "--runtime", v)));
            cases.add(Arguments.of("--vms", List.of("bench", "scale", "--vms", v)));
            cases.add(Arguments.of("--disks", List.of("bench", "scale", "--disks", v)));
            cases.add(Arguments.of("--start-threads", List.of("bench", "scale", "--start-threads", v)));
            cases.add(Arguments.of("--memory", List.of("bench", "scale", "--memory", v)));
        }
        for (String v : List.of("-1", "2147483648", "x")) {
            cases.add(Arguments.of("--warmup", List.of("bench", "hotplug", "--warmup", v)));
            cases.add(Arguments.of("--warmup", List.of("bench", "scale", "--warmup", v)));
        }
        for (String v : List.of(",", "0", "1,-2", "1,,2", "x")) {
            cases.add(Arguments.of("--disks", List.of("bench", "io", "--disks", v)));
        }
        // lists: a lone, leading, trailing or doubled comma is an empty item, not an empty list
        for (String v : List.of(",", "main,", ",main", "main,,first", "")) {
            cases.add(Arguments.of("--modes", List.of("bench", "io", "--modes", v)));
        }
        for (String v : List.of(",", "qemu,", ",qemu", "qemu,,clh")) {
            cases.add(Arguments.of("--only", List.of("compat", "--only", v)));
        }
        // the real bounds of each option, not the converter's generic ones
        cases.add(Arguments.of("expected 0 to 64", List.of("run", "--disks", "100001")));
        cases.add(Arguments.of("expected 0 to 64", List.of("run", "--disks", "65")));
        cases.add(Arguments.of("expected 0 to 16", List.of("run", "--nics", "17")));
        cases.add(Arguments.of("expected 1 to 16", List.of("bench", "io", "--disks", "0")));
        cases.add(Arguments.of("expected 1 to 16", List.of("bench", "io", "--disks", "17")));
        // --vm-id, checked with the other arguments (before a configuration is read)
        for (String v : List.of("1bad", "a/b", "", "-x")) {
            cases.add(Arguments.of("--vm-id", List.of("run", "--vm-id=" + v)));
        }
        // an empty path is no directory and no file
        for (String command : List.of("plugins", "capabilities", "config check", "run", "compat", "bench scale")) {
            List<String> args = new ArrayList<>(List.of(command.split(" ")));
            args.addAll(List.of("--plugins-dir", ""));
            cases.add(Arguments.of("--plugins-dir", args));
        }
        cases.add(Arguments.of("FILE is empty", List.of("config", "check", "")));
        return cases.stream();
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("badValues")
    void aBadNumberIsAUsageErrorOfOneLine(String option, List<String> args) {
        List<String> all = new ArrayList<>(args);
        all.addAll(List.of("--runtime-dir", runtime.toString()));
        if (!args.get(0).equals("vm")) {
            all.removeAll(List.of("--runtime-dir", runtime.toString())); // not every command takes it
        }
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = Hvctl.execute(new PrintWriter(out, true), new PrintWriter(err, true), all.toArray(String[]::new));
        String text = err.toString();
        assertEquals(ExitCode.USAGE, exit, text);
        List<String> errors = text.lines().filter(l -> l.startsWith("hvctl: error:")).toList();
        assertEquals(1, errors.size(), text);
        assertTrue(errors.get(0).contains(option), text);
        assertFalse(text.contains("internal error") || text.contains("\tat "), text);
        assertTrue(text.lines().allMatch(l -> l.startsWith("hvctl: ")), "only hvctl's own lines: " + text);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("goodValues")
    void aGoodNumberPassesTheParser(List<String> args) {
        List<String> all = new ArrayList<>(args);
        all.addAll(List.of("--runtime-dir", runtime.toString()));
        StringWriter err = new StringWriter();
        int exit = Hvctl.execute(new PrintWriter(new StringWriter(), true), new PrintWriter(err, true),
                all.toArray(String[]::new));
        // no VM 'vm1' exists: the command runs and fails for that, not for its arguments
        assertNotEquals(ExitCode.USAGE, exit, err.toString());
        assertNotEquals(ExitCode.INTERNAL, exit, err.toString());
    }

    static Stream<List<String>> goodValues() {
        return Stream.of(
                List.of("vm", "hotplug", "vm1", "--id", "d1", "--null", "8796093022207", "--queues", "1024",
                        "--iothread", "io0,io1"),
                List.of("vm", "iothreads", "vm1", "--poll", "io0:0:0:0"),
                List.of("vm", "unplug", "vm1", "d1", "--wait", "0.5", "--timeout", "86400"));
    }
}
