package io.hvspi.sim.clh;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * What Cloud Hypervisor's Rust types refuse although the OpenAPI document
 * allows it: integers out of the range of their Rust type ({@code usize},
 * {@code u16}, {@code u32}) and fields that are not {@code Option}. serde
 * refuses those while deserializing, so the real VMM answers 400 "Failed to
 * deserialize JSON", not a validation error; so does the simulator. Only the
 * types the simulator has rules for are covered (see {@link #RULES}).
 */
final class SerdeRules {

    private sealed interface Rule permits IntRule, Required, Parsed {}

    /** An integer at {@code path} must fit the Rust type: 0..max. */
    private record IntRule(String path, long max, String rustType) implements Rule {
        IntRule under(String prefix) {
            return new IntRule(prefix + path, max, rustType);
        }
    }

    /** A member that is not an {@code Option} in the Rust type. */
    private record Required(String field) implements Rule {}

    /**
     * A string member serde parses into a Rust type ({@code MacAddr}, {@code IpAddr}):
     * {@code valid} says what parses, {@code error} is what serde then reports.
     */
    private record Parsed(String field, java.util.function.Predicate<String> valid, String error) implements Rule {}


    private static final long USIZE = Long.MAX_VALUE;
    private static final long U64 = Long.MAX_VALUE;
    private static final long U32 = 0xFFFF_FFFFL;
    private static final long U16 = 0xFFFFL;

    /** {@code MacAddr::parse_str}: six two-digit hex octets separated by ':'. */
    private static final java.util.regex.Pattern MAC =
            java.util.regex.Pattern.compile("[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}");
    /** Literal IPv4 or IPv6 addresses only (Rust's {@code IpAddr::from_str}, no host names). */
    private static final java.util.regex.Pattern IP =
            java.util.regex.Pattern.compile("(\\d{1,3}(\\.\\d{1,3}){3})|([0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)");

    private static final List<Rule> NET = List.of(
            new IntRule("num_queues", USIZE, "usize"),
            new IntRule("queue_size", U16, "u16"),
            new IntRule("pci_segment", U16, "u16"),
            new IntRule("mtu", U16, "u16"),
            new Parsed("mac", v -> MAC.matcher(v).matches(), "Kind(InvalidInput)"),
            new Parsed("host_mac", v -> MAC.matcher(v).matches(), "Kind(InvalidInput)"),
            new Parsed("ip", v -> IP.matcher(v).matches(), "invalid IP address syntax"),
            new Parsed("mask", v -> IP.matcher(v).matches(), "invalid IP address syntax"));

    // paths use '/' between members and '*' for every element of an array
    private static final List<IntRule> DISK = List.of(
            new IntRule("num_queues", USIZE, "usize"),
            new IntRule("queue_size", U16, "u16"),
            new IntRule("pci_segment", U16, "u16"),
            new IntRule("queue_affinity/*/queue_index", U16, "u16"),
            new IntRule("queue_affinity/*/host_cpus/*", USIZE, "usize"));

    private static final Map<String, List<Rule>> RULES = Map.of(
            "DiskConfig", List.copyOf(DISK),
            "NetConfig", NET,
            "VmRemoveDevice", List.of(new Required("id")),
            "VmConfig", Stream.concat(
                    Stream.of(new IntRule("cpus/boot_vcpus", U32, "u32"), new IntRule("cpus/max_vcpus", U32, "u32"),
                            new IntRule("memory/size", U64, "u64")),
                    Stream.concat(DISK.stream().map(r -> r.under("disks/*/")),
                            NET.stream().filter(IntRule.class::isInstance).map(r -> ((IntRule) r).under("net/*/"))))
                    .map(Rule.class::cast).toList());

    private SerdeRules() {}

    /** The message serde would give for {@code body} as {@code schema}, or empty when serde takes it. */
    static Optional<String> check(String schema, JsonNode body) {
        for (Rule rule : RULES.getOrDefault(schema, List.of())) {
            Optional<String> problem = switch (rule) {
                case IntRule r -> checkInts(body, r.path().split("/"), 0, r);
                case Required r -> body.isObject() && !body.has(r.field())
                        ? Optional.of("missing field `" + r.field() + "`") : Optional.empty();
                case Parsed r -> body.path(r.field()).isTextual() && !r.valid().test(body.get(r.field()).asText())
                        ? Optional.of(r.error()) : Optional.empty();
            };
            if (problem.isPresent()) {
                return problem;
            }
        }
        return Optional.empty();
    }

    private static Optional<String> checkInts(JsonNode node, String[] path, int at, IntRule rule) {
        if (node == null || node.isMissingNode() || node.isNull()) {
            return Optional.empty();
        }
        if (at == path.length) {
            if (node.isIntegralNumber() && (node.bigIntegerValue().signum() < 0
                    || node.bigIntegerValue().compareTo(java.math.BigInteger.valueOf(rule.max())) > 0)) {
                return Optional.of("invalid value: integer `" + node.bigIntegerValue() + "`, expected " + rule.rustType());
            }
            return Optional.empty();
        }
        if ("*".equals(path[at])) {
            for (JsonNode element : node) {
                Optional<String> p = checkInts(element, path, at + 1, rule);
                if (p.isPresent()) {
                    return p;
                }
            }
            return Optional.empty();
        }
        return checkInts(node.get(path[at]), path, at + 1, rule);
    }
}
