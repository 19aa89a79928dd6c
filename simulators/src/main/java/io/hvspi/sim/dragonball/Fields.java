package io.hvspi.sim.dragonball;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/**
 * Reads one config object strictly, the way serde reads Dragonball's structs with
 * {@code deny_unknown_fields}: a missing required field, a value of the wrong type
 * or a field it does not know is {@code Bridge.InvalidConfig}, naming the field.
 */
final class Fields {
    private final String where;
    private final JsonNode node;
    private final Set<String> seen = new LinkedHashSet<>();

    private Fields(String where, JsonNode node) {
        this.where = where;
        this.node = node;
    }

    /** The config of {@code action}; absent and {@code null} read as an empty object. */
    static Fields of(String where, JsonNode config) throws ActionError {
        if (config == null || config.isNull() || config.isMissingNode()) {
            return new Fields(where, JsonNodeFactory.instance.objectNode());
        }
        if (!config.isObject()) {
            throw invalid(where + ": config must be a JSON object, got " + config.getNodeType().name().toLowerCase(Locale.ROOT));
        }
        return new Fields(where, config);
    }

    private JsonNode value(String name) {
        seen.add(name);
        JsonNode v = node.get(name);
        return v == null || v.isNull() ? null : v;
    }

    String requiredString(String name) throws ActionError {
        JsonNode v = value(name);
        if (v == null) {
            throw invalid(where + ": missing field '" + name + "'");
        }
        return string(name, v);
    }

    Optional<String> optionalString(String name) throws ActionError {
        JsonNode v = value(name);
        return v == null ? Optional.empty() : Optional.of(string(name, v));
    }

    String string(String name, String defaultValue) throws ActionError {
        return optionalString(name).orElse(defaultValue);
    }

    private String string(String name, JsonNode v) throws ActionError {
        if (!v.isTextual()) {
            throw invalid(where + ": field '" + name + "' must be a string");
        }
        return v.textValue();
    }

    boolean bool(String name, boolean defaultValue) throws ActionError {
        return optionalBool(name).orElse(defaultValue);
    }

    /** Dragonball's {@code Option<bool>}. */
    Optional<Boolean> optionalBool(String name) throws ActionError {
        JsonNode v = value(name);
        if (v == null) {
            return Optional.empty();
        }
        if (!v.isBoolean()) {
            throw invalid(where + ": field '" + name + "' must be true or false");
        }
        return Optional.of(v.booleanValue());
    }

    /** An unsigned integer no larger than {@code max} (255 for Rust's u8, 65535 for u16). */
    long unsigned(String name, long defaultValue, long max) throws ActionError {
        JsonNode v = value(name);
        if (v == null) {
            return defaultValue;
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 0 || v.longValue() > max) {
            throw invalid(where + ": field '" + name + "' must be an integer from 0 to " + max);
        }
        return v.longValue();
    }

    /** A nested object, or empty when absent or null. */
    Optional<Fields> optionalObject(String name) throws ActionError {
        JsonNode v = value(name);
        if (v == null) {
            return Optional.empty();
        }
        if (!v.isObject()) {
            throw invalid(where + ": field '" + name + "' must be an object");
        }
        return Optional.of(new Fields(where + "." + name, v));
    }

    /** Any JSON value kept as is (Dragonball's rate limiter), or null. */
    JsonNode raw(String name) {
        return value(name);
    }

    /** Fails on the first field that no reader asked for. */
    void done() throws ActionError {
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (!seen.contains(name)) {
                throw invalid(where + ": unknown field '" + name + "', expected one of " + String.join(", ", seen));
            }
        }
    }

    static ActionError invalid(String message) {
        return ActionError.bridge("InvalidConfig", message);
    }
}
