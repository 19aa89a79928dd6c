package io.hvspi.plugin.clh.api;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.spi.VmmUnavailableException;
import java.util.Optional;

/**
 * A successful answer from Cloud Hypervisor's API.
 *
 * @param status 200 or 204
 * @param body the JSON body, when there was one
 */
public record ApiReply(int status, Optional<JsonNode> body) {

    /** The body, or a protocol error naming the request when the VMM sent none. */
    public JsonNode requireBody(String request) {
        return body.orElseThrow(() -> new VmmUnavailableException(VmmUnavailableException.Reason.PROTOCOL_ERROR,
                "clh: " + request + " answered " + status + " without the expected JSON body"));
    }
}
