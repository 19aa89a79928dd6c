package io.hvspi.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class IOThreadPolicyTest {
    private static final List<String> POOL = List.of("t0", "t1", "t2", "t3");

    /** Places {@code n} devices one after the other, as a plugin does, and returns where each went. */
    private static List<String> place(IOThreadPolicy policy, int n) {
        Map<String, Integer> load = new HashMap<>();
        List<String> placed = new ArrayList<>();
        for (int turn = 0; turn < n; turn++) {
            String id = policy.choose(POOL, t -> load.getOrDefault(t, 0), turn);
            load.merge(id, 1, Integer::sum);
            placed.add(id);
        }
        return placed;
    }

    @Test
    void firstAlwaysPicksTheFirstIOThreadAsKataDoes() {
        assertEquals(List.of("t0", "t0", "t0", "t0", "t0"), place(IOThreadPolicy.FIRST, 5));
    }

    @Test
    void roundRobinCyclesWhateverTheLoad() {
        assertEquals(List.of("t0", "t1", "t2", "t3", "t0"), place(IOThreadPolicy.ROUND_ROBIN, 5));
    }

    @Test
    void leastLoadedSpreadsEightDisksTwoPerIOThread() {
        List<String> placed = place(IOThreadPolicy.LEAST_LOADED, 8);
        for (String t : POOL) {
            assertEquals(2, placed.stream().filter(t::equals).count(), t);
        }
    }

    @Test
    void leastLoadedFillsTheGapLeftByADetach() {
        Map<String, Integer> load = Map.of("t0", 2, "t1", 2, "t2", 1, "t3", 2);
        assertEquals("t2", IOThreadPolicy.LEAST_LOADED.choose(POOL, load::get, 7));
    }

    @Test
    void emptyPoolIsRefusedAsExhausted() {
        RequestRejectedException e = assertThrows(RequestRejectedException.class,
                () -> IOThreadPolicy.LEAST_LOADED.choose(List.of(), t -> 0, 0));
        assertEquals(RequestRejectedException.Reason.EXHAUSTED, e.reason());
    }

    @ParameterizedTest
    @CsvSource({"first,FIRST", "round-robin,ROUND_ROBIN", "Least-Loaded,LEAST_LOADED"})
    void keysParse(String key, IOThreadPolicy expected) {
        assertEquals(expected, IOThreadPolicy.fromKey(key));
    }

    @Test
    void unknownKeyNamesTheValidOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> IOThreadPolicy.fromKey("random"));
        assertEquals("unknown IOThread policy 'random' (expected first, round-robin or least-loaded)", e.getMessage());
    }

    @Test
    void spiVersionComesFromTheBuild() {
        assertEquals("1.1.0", SpiVersion.CURRENT);
    }
}
