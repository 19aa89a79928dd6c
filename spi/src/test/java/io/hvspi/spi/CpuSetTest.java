package io.hvspi.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class CpuSetTest {

    @Test
    void parsesRangesAndSinglesIntoTheCanonicalForm() {
        CpuSet s = CpuSet.parse(" 6, 0-2 ,3");
        assertEquals(List.of(0, 1, 2, 3, 6), s.cpus());
        assertEquals("0-3,6", s.toString());
        assertEquals(CpuSet.of(6, 3, 2, 1, 0), s);
        assertEquals(6, s.highest());
        assertEquals("5", CpuSet.parse("5-5").toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", " ", "3-1", "a", "1,,2", "-1", "1-", "0x1", "8192", "99999999999", "1.5", "+1"})
    void refusesWhatIsNotACpuList(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CpuSet.parse(text));
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void subsetsAndWhatIsMissing() {
        CpuSet host = CpuSet.parse("0-1");
        assertTrue(CpuSet.parse("1").isSubsetOf(host));
        assertFalse(CpuSet.parse("1-3").isSubsetOf(host));
        assertEquals(List.of(2, 3), CpuSet.parse("1-3").missingFrom(host));
    }

    @Test
    void placementChecksCgroupPaths() {
        assertThrows(IllegalArgumentException.class, () -> new VmSpec.ThreadPlacement(Optional.empty(),
                Optional.of("/a/../b"), Optional.empty()));
        assertThrows(IllegalArgumentException.class, () -> new VmSpec.ThreadPlacement(Optional.empty(),
                Optional.empty(), Optional.of("relative")));
        assertTrue(VmSpec.ThreadPlacement.NONE.isNone());
        assertEquals("/kata/io", new VmSpec.ThreadPlacement(Optional.of(CpuSet.of(1)), Optional.of("/kata/io"),
                Optional.empty()).ioThreadCgroup().orElseThrow());
    }
}
