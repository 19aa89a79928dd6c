package io.hvspi.plugin.clh.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads Cloud Hypervisor's error bodies: since v48 a JSON array with the text
 * of every error in the chain, outermost first; before that a plain string.
 */
public final class ErrorBodies {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ErrorBodies() {}

    /** The messages in the body, outermost first; the raw text as one message when it is not a JSON array. */
    public static List<String> messages(String body) {
        String text = body == null ? "" : body.strip();
        if (text.isEmpty()) {
            return List.of();
        }
        try {
            JsonNode node = JSON.readTree(text);
            if (node != null && node.isArray()) {
                List<String> messages = new ArrayList<>();
                node.forEach(m -> messages.add(m.isTextual() ? m.asText() : m.toString()));
                return messages;
            }
            if (node != null && node.isTextual()) {
                return List.of(node.asText());
            }
        } catch (IOException e) {
            // not JSON: an older VMM's plain-text body
        }
        return List.of(text);
    }

    /** The messages joined with ": ", as Cloud Hypervisor logs them; "(no body)" when there are none. */
    public static String join(String body) {
        List<String> messages = messages(body);
        return messages.isEmpty() ? "(no body)" : String.join(": ", messages);
    }
}
