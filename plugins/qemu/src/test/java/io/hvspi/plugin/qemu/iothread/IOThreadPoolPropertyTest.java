package io.hvspi.plugin.qemu.iothread;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.plugin.qemu.state.QemuState.IOThreadState;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadInfo.Kind;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.EdgeCasesMode;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.RandomDistribution;
import net.jqwik.api.statistics.Statistics;
import net.jqwik.api.Tuple;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

/**
 * The pool's accounting and the placement policies under random sequences of
 * attaches (reserve, then confirm or release), detaches, IOThread additions and
 * removals, against a model written from the policies' definitions, without QEMU.
 * Fixed seeds: a run is reproducible; a failing sample is kept under
 * {@code target/jqwik-database} and tried first next time.
 */
class IOThreadPoolPropertyTest {

    /** One step of a random sequence; numbers pick among what exists when the step runs. */
    sealed interface Step {}

    /** An attach reserves: by policy, a named pool IOThread, or the main loop. */
    record Reserve(int kind, int pick) implements Step {}

    /** QEMU confirmed an attach in flight. */
    record Confirm(int pick) implements Step {}

    /** An attach in flight failed. */
    record Release(int pick) implements Step {}

    /** QEMU confirmed a device is gone. */
    record Detach(int pick) implements Step {}

    /** {@code object-add} of a new IOThread succeeded. */
    record Add() implements Step {}

    /** A removal, refused or not; {@code deleted} is whether QEMU's {@code object-del} then succeeded. */
    record Remove(int pick, boolean deleted) implements Step {}

    @Provide
    Arbitrary<List<Step>> steps() {
        Arbitrary<Integer> pick = Arbitraries.integers().between(0, 1_000);
        Arbitrary<Step> reserve = Combinators.combine(Arbitraries.integers().between(0, 5), pick)
                .as((kind, p) -> new Reserve(kind, p));
        Arbitrary<Step> step = Arbitraries.frequencyOf(
                Tuple.of(6, reserve),
                Tuple.of(5, pick.<Step>map(Confirm::new)),
                Tuple.of(1, pick.<Step>map(Release::new)),
                Tuple.of(3, pick.<Step>map(Detach::new)),
                Tuple.of(1, Arbitraries.<Step>just(new Add())),
                Tuple.of(1, Combinators.combine(pick, Arbitraries.of(true, false))
                        .as((p, deleted) -> (Step) new Remove(p, deleted))));
        return step.list().ofMinSize(1).ofMaxSize(80).withSizeDistribution(RandomDistribution.uniform());
    }

    /** hvspi's pool next to a model of it; every step is applied to both and then compared. */
    private static final class Run {
        final IOThreadPolicy policy;
        final IOThreadPool pool;
        final List<String> members = new ArrayList<>();
        final Map<String, List<String>> attached = new LinkedHashMap<>();
        final List<IOThreadPool.Reservation> open = new ArrayList<>();
        final List<Boolean> openByPolicy = new ArrayList<>();
        long placedByPolicy;
        int nextDevice;
        int nextThread;

        Run(IOThreadPolicy policy, int size) {
            this.policy = policy;
            List<IOThreadState> states = new ArrayList<>();
            for (int i = 0; i < size; i++) {
                members.add("t" + i);
                states.add(new IOThreadState("t" + i, Kind.POOL));
            }
            nextThread = size;
            // a controller's IOThread is never the pool's: the policy must not pick it, a name must not reach it
            states.add(new IOThreadState("ctl", Kind.CONTROLLER));
            pool = new IOThreadPool(new Object(), states, policy, 0);
        }

        int modelLoad(String id) {
            int n = 0;
            for (List<String> threads : attached.values()) {
                n += threads.contains(id) ? 1 : 0;
            }
            for (IOThreadPool.Reservation r : open) {
                n += r.ioThreads().contains(id) ? 1 : 0;
            }
            return n;
        }

        long modelTurn() {
            return placedByPolicy + openByPolicy.stream().filter(b -> b).count();
        }

        /** The policy's rule, written out from its definition. */
        String expectedChoice() {
            return switch (policy) {
                case FIRST -> members.get(0);
                case ROUND_ROBIN -> members.get((int) (modelTurn() % members.size()));
                case LEAST_LOADED -> {
                    String best = members.get(0);
                    for (String id : members) {
                        if (modelLoad(id) < modelLoad(best)) {
                            best = id;
                        }
                    }
                    yield best;
                }
            };
        }

        void apply(Step step) {
            switch (step) {
                case Reserve r -> reserve(r);
                case Confirm c -> {
                    if (!open.isEmpty()) {
                        int i = c.pick() % open.size();
                        String device = "d" + nextDevice++;
                        IOThreadPool.Reservation res = open.remove(i);
                        if (openByPolicy.remove(i)) {
                            placedByPolicy++;
                        }
                        pool.confirm(res, device);
                        attached.put(device, res.ioThreads());
                    }
                }
                case Release r -> {
                    if (!open.isEmpty()) {
                        int i = r.pick() % open.size();
                        IOThreadPool.Reservation res = open.remove(i);
                        openByPolicy.remove(i);
                        pool.release(res);
                        pool.release(res); // idempotent
                    }
                }
                case Detach d -> {
                    if (!attached.isEmpty()) {
                        String device = new ArrayList<>(attached.keySet()).get(d.pick() % attached.size());
                        attached.remove(device);
                        pool.unassign(device);
                    }
                }
                case Add a -> {
                    String id = "t" + nextThread++;
                    pool.add(id, Kind.POOL);
                    members.add(id);
                }
                case Remove r -> remove(r);
            }
        }

        private void reserve(Reserve r) {
            IOThreadChoice choice = switch (r.kind()) {
                case 0, 1, 2 -> IOThreadChoice.byPolicy();
                case 3, 4 -> members.isEmpty() ? IOThreadChoice.named("t999") : IOThreadChoice.named(
                        members.get(r.pick() % members.size()));
                default -> IOThreadChoice.mainLoop();
            };
            if (choice instanceof IOThreadChoice.Named n && !members.contains(n.id())) {
                assertEquals(Reason.NOT_FOUND, assertThrows(RequestRejectedException.class,
                        () -> pool.reserve(choice)).reason());
                return;
            }
            boolean byPolicy = choice instanceof IOThreadChoice.ByPolicy && !members.isEmpty();
            String expected = byPolicy ? expectedChoice() : null;
            IOThreadPool.Reservation res = pool.reserve(choice);
            switch (choice) {
                case IOThreadChoice.ByPolicy p -> assertEquals(members.isEmpty() ? List.of() : List.of(expected),
                        res.ioThreads(), policy + " picked against its rule");
                case IOThreadChoice.Named n -> assertEquals(List.of(n.id()), res.ioThreads());
                default -> assertEquals(List.of(), res.ioThreads());
            }
            open.add(res);
            openByPolicy.add(byPolicy);
        }

        private void remove(Remove r) {
            if (members.isEmpty()) {
                return;
            }
            String id = members.get(r.pick() % members.size());
            if (modelLoad(id) > 0) {
                assertEquals(Reason.IN_USE, assertThrows(RequestRejectedException.class,
                        () -> pool.beginRemove(id)).reason(), id + " is used or reserved: removal must be refused");
                return;
            }
            pool.beginRemove(id);
            assertTrue(!pool.poolIds().contains(id), "no placement on an IOThread being removed");
            pool.finishRemove(id, r.deleted());
            if (r.deleted()) {
                members.remove(id);
            }
        }

        /** The invariants, after every step. */
        void check() {
            assertEquals(members, pool.poolIds());
            int confirmedOnThreads = 0;
            for (List<String> threads : attached.values()) {
                confirmedOnThreads += threads.size();
            }
            int sumDevices = 0;
            int sumLoads = 0;
            Map<String, Integer> reserved = new HashMap<>();
            for (String id : members) {
                int load = pool.load(id);
                assertTrue(load >= 0, "load of " + id + " is " + load);
                assertEquals(modelLoad(id), load, "load of " + id);
                sumDevices += pool.devicesOn(id).size();
                sumLoads += load;
                open.forEach(res -> res.ioThreads().stream().filter(id::equals)
                        .forEach(t -> reserved.merge(t, 1, Integer::sum)));
            }
            assertEquals(confirmedOnThreads, sumDevices, "the devices on IOThreads add up to the attached ones");
            assertEquals(confirmedOnThreads + reserved.values().stream().mapToInt(Integer::intValue).sum(), sumLoads,
                    "loads are the attached devices plus the attaches in flight");
            assertEquals(reserved, pool.reservations());
            assertEquals(attached, pool.assignments());
            assertEquals(modelTurn(), pool.turn());
            assertEquals(0, pool.load("ctl"), "nothing lands on a controller's IOThread");
        }
    }

    @Property(tries = 300, seed = "20261129", edgeCases = EdgeCasesMode.NONE)
    void randomSequencesKeepTheAccountingAndFollowThePolicy(@ForAll("steps") List<Step> steps,
                                                           @ForAll IOThreadPolicy policy,
                                                           @ForAll @IntRange(min = 0, max = 5) int size) {
        Run run = new Run(policy, size);
        run.check();
        int most = 0;
        for (Step step : steps) {
            run.apply(step);
            run.check();
            most = Math.max(most, run.attached.size() + run.open.size());
        }
        Statistics.label("policy").collect(policy);
        Statistics.label("steps").collect(steps.size() / 20 * 20);
        Statistics.label("most devices and attaches in flight at once").collect(Math.min(most / 4 * 4, 12));
    }

    @Property(tries = 200, seed = "20261129", edgeCases = EdgeCasesMode.NONE)
    void leastLoadedKeepsLoadsWithinOneWhenOnlyAttaching(@ForAll @IntRange(min = 1, max = 8) int size,
                                                         @ForAll @IntRange(min = 0, max = 50) int attaches,
                                                         @ForAll @Size(max = 50) List<Boolean> confirmAtOnce) {
        Run run = new Run(IOThreadPolicy.LEAST_LOADED, size);
        for (int i = 0; i < attaches; i++) {
            run.apply(new Reserve(0, 0));
            if (i < confirmAtOnce.size() && confirmAtOnce.get(i)) {
                run.apply(new Confirm(run.open.size() - 1));
            }
            int max = run.members.stream().mapToInt(run.pool::load).max().orElseThrow();
            int min = run.members.stream().mapToInt(run.pool::load).min().orElseThrow();
            assertTrue(max - min <= 1, "loads spread by " + (max - min) + " after " + (i + 1) + " attaches");
        }
    }

    @Property(tries = 200, seed = "20261129", edgeCases = EdgeCasesMode.NONE)
    void firstAlwaysPicksTheFirstPoolIOThread(@ForAll("steps") List<Step> steps,
                                             @ForAll @IntRange(min = 1, max = 5) int size) {
        Run run = new Run(IOThreadPolicy.FIRST, size);
        for (Step step : steps) {
            run.apply(step);
            if (!run.members.isEmpty()) {
                assertEquals(run.members.get(0), run.pool.choose());
                assertEquals(run.pool.poolIds().get(0), run.pool.choose());
            }
        }
    }

    @Property(tries = 300, seed = "20261129", edgeCases = EdgeCasesMode.NONE)
    void releasingAReservationRestoresThePool(@ForAll("steps") List<Step> steps, @ForAll IOThreadPolicy policy,
                                              @ForAll @IntRange(min = 1, max = 5) int size,
                                              @ForAll @IntRange(min = 0, max = 5) int kind,
                                              @ForAll @IntRange(min = 0, max = 100) int pick) {
        Run run = new Run(policy, size);
        steps.forEach(run::apply);
        if (run.members.isEmpty()) {
            return;
        }
        Map<String, Integer> loads = new HashMap<>();
        run.members.forEach(id -> loads.put(id, run.pool.load(id)));
        Map<String, Integer> reservations = run.pool.reservations();
        long turn = run.pool.turn();
        String choice = run.pool.choose();

        run.apply(new Reserve(kind, pick));
        run.apply(new Release(run.open.size() - 1));

        Map<String, Integer> after = new HashMap<>();
        run.members.forEach(id -> after.put(id, run.pool.load(id)));
        assertEquals(loads, after);
        assertEquals(reservations, run.pool.reservations());
        assertEquals(turn, run.pool.turn(), "a failed attach does not move round-robin's cursor");
        assertEquals(choice, run.pool.choose());
    }
}
