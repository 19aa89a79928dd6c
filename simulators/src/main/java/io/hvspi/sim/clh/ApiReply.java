package io.hvspi.sim.clh;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import java.util.Optional;

/**
 * What the simulator answers: an HTTP status and an optional JSON body, built
 * the way Cloud Hypervisor builds them.
 *
 * @param status the HTTP status
 * @param body the JSON body, when there is one
 * @param fatal the real VMM dies here: the simulator stops serving after answering
 */
record ApiReply(int status, Optional<String> body, boolean fatal) {
    private static final ObjectMapper JSON = new ObjectMapper();

    ApiReply(int status, Optional<String> body) {
        this(status, body, false);
    }

    /** 200 with a JSON document. */
    static ApiReply ok(JsonNode body) {
        return new ApiReply(200, Optional.of(body.toString()));
    }

    /** 200 without a body (Cloud Hypervisor's {@code vmm.shutdown}). */
    static ApiReply okEmpty() {
        return new ApiReply(200, Optional.empty());
    }

    static ApiReply noContent() {
        return new ApiReply(204, Optional.empty());
    }

    /** A status without a body, as Cloud Hypervisor sends for some malformed requests. */
    static ApiReply bare(int status) {
        return new ApiReply(status, Optional.empty());
    }

    /**
     * Cloud Hypervisor's {@code error_response} since v48: a JSON array of the
     * Display text of every error in the chain, outermost first.
     */
    static ApiReply error(int status, List<String> chain) {
        try {
            return new ApiReply(status, Optional.of(JSON.writeValueAsString(chain)));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** 500 with {@code ["Error from API", ...chain]}: how every failed VMM action is reported. */
    static ApiReply apiError(String... chain) {
        return apiError(List.of(chain));
    }

    static ApiReply apiError(List<String> chain) {
        return error(500, java.util.stream.Stream.concat(java.util.stream.Stream.of("Error from API"), chain.stream()).toList());
    }

    /** 400 {@code ["Bad Request"]}: wrong method, a body where none is taken, or no body where one is needed. */
    static ApiReply badRequest() {
        return error(400, List.of("Bad Request"));
    }

    /** 400 {@code ["Failed to deserialize JSON", detail]}: serde refused the body. */
    static ApiReply notDeserializable(String detail) {
        return error(400, List.of("Failed to deserialize JSON", detail));
    }

    /**
     * What a client sees when the VMM thread panics on its request (an {@code unwrap} on
     * nothing): the API thread's wait for the answer ends as the channel closes, so it answers
     * 500 with the receive error, and the process exits (the main thread's join fails). The
     * exit races the answer: a real client may instead see the connection close unanswered.
     */
    static ApiReply vmmPanicked() {
        ApiReply reply = error(500, List.of("Error from API", "API response receive error", "receiving on a closed channel"));
        return new ApiReply(reply.status(), reply.body(), true);
    }

    /**
     * 400 from micro_http itself, before Cloud Hypervisor sees the request (a method it does not
     * parse, a body over its limit): its own body, which is not JSON (a raw newline in a string).
     */
    static ApiReply parseError(String error) {
        return new ApiReply(400, Optional.of("{ \"error\": \"" + error + "\nAll previous unanswered requests will be dropped.\" }"));
    }

    static ApiReply notFound() {
        return error(404, List.of("Not Found"));
    }
}
