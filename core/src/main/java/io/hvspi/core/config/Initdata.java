package io.hvspi.core.config;

import io.hvspi.spi.ConfigException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Optional;
import java.util.zip.GZIPInputStream;
import org.tomlj.Toml;
import org.tomlj.TomlParseResult;

/**
 * The {@code cc_init_data} annotation: a base64 (standard alphabet) gzip of a
 * TOML initdata document, checked as the Go runtime decodes it
 * ({@code src/runtime/pkg/oci/utils.go: addHypervisorInitdataOverrides}:
 * {@code base64.StdEncoding}, {@code gzip.NewReader}, {@code toml.Decode}). An
 * empty value is ignored there, so it is accepted here. hvspi does not act on it.
 */
final class Initdata {
    /** A pod must not make the runtime inflate gigabytes: the decompressed document is capped. */
    static final int MAX_BYTES = 1 << 20;

    private Initdata() {}

    /** Empty when {@code value} decodes as Kata decodes it, else why not. */
    static Optional<String> check(String value) {
        if (value.isEmpty()) {
            return Optional.empty();
        }
        byte[] gzip;
        try {
            gzip = Base64.getDecoder().decode(value);
        } catch (IllegalArgumentException e) {
            return Optional.of("expected base64 (standard alphabet) of a gzip-compressed TOML document: "
                    + e.getMessage());
        }
        byte[] toml;
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(gzip))) {
            toml = in.readNBytes(MAX_BYTES + 1);
        } catch (IOException e) {
            return Optional.of("initdata is not gzip-compressed: " + e.getMessage());
        }
        if (toml.length > MAX_BYTES) {
            return Optional.of("initdata inflates to more than " + MAX_BYTES + " bytes");
        }
        String text = new String(toml, StandardCharsets.UTF_8);
        try {
            TomlDepth.check(text, Path.of("initdata")); // tomlj overflows the stack on deep nesting
        } catch (ConfigException e) {
            return Optional.of(e.getMessage());
        }
        TomlParseResult doc = Toml.parse(text);
        if (doc.hasErrors()) {
            return Optional.of("initdata is not TOML: " + doc.errors().get(0).toString());
        }
        return Optional.empty();
    }
}
