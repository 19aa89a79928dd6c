package io.hvspi.plugin.clh.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hvspi.kit.lifecycle.VmmSockets;
import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.HttpResponseException;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.StringRequestContent;
import org.eclipse.jetty.http.HttpException;
import org.eclipse.jetty.io.Transport;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.eclipse.jetty.util.thread.ScheduledExecutorScheduler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Cloud Hypervisor's REST API ({@code /api/v1}) over its {@code --api-socket},
 * with Jetty's HTTP client on a Unix-domain transport. Every call has its own
 * timeout and ends with an answer, a {@link VmmException} carrying the HTTP
 * status and the VMM's messages, or a {@link VmmUnavailableException}: {@code EXITED}
 * only when nothing listens on the socket any more ({@link VmmSockets#refusesConnections});
 * any other failure to reach a socket that still listens, such as a connect that fails with
 * {@code EAGAIN} because a stopped or hung VMM's accept backlog is full, is {@code TIMED_OUT}.
 */
public final class ClhApiClient implements AutoCloseable {
    /** Where Cloud Hypervisor serves its API. */
    public static final String API_ROOT = "/api/v1";

    private static final Logger LOG = LoggerFactory.getLogger(ClhApiClient.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path socket;
    private final Transport transport;
    private final HttpClient http;

    /**
     * @param socket the API socket
     * @param name a short name for the client's threads, e.g. the VM id
     */
    public ClhApiClient(Path socket, String name) {
        this.socket = socket;
        this.transport = new Transport.TCPUnix(socket);
        QueuedThreadPool pool = new QueuedThreadPool(8, 1);
        pool.setName("clh-api-" + name);
        pool.setDaemon(true);
        this.http = new HttpClient();
        http.setExecutor(pool);
        http.setScheduler(new ScheduledExecutorScheduler("clh-api-" + name + "-timer", true));
        http.setFollowRedirects(false);
        // one request at a time reaches the VMM thread anyway; keep the connection count small
        http.setMaxConnectionsPerDestination(4);
        try {
            http.start();
        } catch (Exception e) {
            throw new IllegalStateException("cannot start the HTTP client for " + socket + ": " + e.getMessage(), e);
        }
    }

    public Path socket() {
        return socket;
    }

    /** {@code GET /api/v1<endpoint>}. */
    public ApiReply get(String endpoint, Duration timeout) {
        return call("GET", endpoint, Optional.empty(), timeout);
    }

    /** {@code PUT /api/v1<endpoint>} without a body. */
    public ApiReply put(String endpoint, Duration timeout) {
        return call("PUT", endpoint, Optional.empty(), timeout);
    }

    /** {@code PUT /api/v1<endpoint>} with a JSON body. */
    public ApiReply put(String endpoint, JsonNode body, Duration timeout) {
        return call("PUT", endpoint, Optional.of(body), timeout);
    }

    /**
     * Sends one request. A 2xx answer is returned; any other status becomes a
     * {@link VmmException} whose error class is the status and whose message is
     * the VMM's messages joined with ": ".
     *
     * @param endpoint e.g. {@code /vm.add-disk}
     */
    public ApiReply call(String method, String endpoint, Optional<JsonNode> body, Duration timeout) {
        String command = method + " " + API_ROOT + endpoint;
        Request request = http.newRequest("http://localhost" + API_ROOT + endpoint)
                .method(method)
                .transport(transport)
                .timeout(Math.max(1, timeout.toMillis()), TimeUnit.MILLISECONDS);
        body.ifPresent(b -> request.body(new StringRequestContent("application/json", b.toString())));
        ContentResponse response;
        try {
            response = request.send();
        } catch (TimeoutException e) {
            throw new VmmUnavailableException(Reason.TIMED_OUT,
                    "clh: " + command + ": no answer within " + timeout.toMillis() + " ms on " + socket, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmmUnavailableException(Reason.TIMED_OUT, "clh: " + command + ": interrupted while waiting", e);
        } catch (ExecutionException e) {
            throw unavailable(command, e.getCause() == null ? e : e.getCause());
        }
        int status = response.getStatus();
        String text = response.getContentAsString();
        LOG.debug("{} -> {} {}", command, status, text);
        if (status < 200 || status >= 300) {
            throw new VmmException(command, Integer.toString(status), ErrorBodies.join(text));
        }
        if (text == null || text.isBlank()) {
            return new ApiReply(status, Optional.empty());
        }
        try {
            return new ApiReply(status, Optional.of(JSON.readTree(text)));
        } catch (IOException e) {
            throw new VmmUnavailableException(Reason.PROTOCOL_ERROR,
                    "clh: " + command + " answered " + status + " with a body that is not JSON: " + abbreviate(text), e);
        }
    }

    private VmmUnavailableException unavailable(String command, Throwable cause) {
        if (cause instanceof TimeoutException) {
            return new VmmUnavailableException(Reason.TIMED_OUT, "clh: " + command + ": no answer in time on " + socket, cause);
        }
        if (cause instanceof HttpResponseException || cause instanceof HttpException) {
            return new VmmUnavailableException(Reason.PROTOCOL_ERROR,
                    "clh: " + command + ": not HTTP on " + socket + ": " + cause.getMessage(), cause);
        }
        if (VmmSockets.backlogFull(cause)) {
            // EAGAIN on connect: the listener is there but accepts nothing (a VMM stopped with SIGSTOP, or hung)
            return new VmmUnavailableException(Reason.TIMED_OUT, "clh: " + command + ": the VMM on " + socket
                    + " takes no connection (its accept backlog is full: it is stopped or hung)", cause);
        }
        if (!VmmSockets.refusesConnections(socket)) {
            // something still listens: whatever failed, it is no proof that the VMM is gone
            return new VmmUnavailableException(Reason.TIMED_OUT, "clh: " + command + ": no answer on " + socket
                    + ", which still takes connections: " + oneLine(cause), cause);
        }
        // connect refused, no socket file, or the connection closed and nothing listens: the VMM is gone
        return new VmmUnavailableException(Reason.EXITED,
                "clh: " + command + ": cannot reach the VMM on " + socket + ": " + oneLine(cause), cause);
    }

    private static String oneLine(Throwable cause) {
        return cause.toString().replace('\n', ' ');
    }

    private static String abbreviate(String text) {
        String line = text.strip().replace('\n', ' ');
        return line.length() > 200 ? line.substring(0, 200) + "..." : line;
    }

    /** Stops the client's threads; the VMM is not affected. Never throws. */
    @Override
    public void close() {
        try {
            http.stop();
        } catch (Exception e) {
            LOG.debug("stopping the HTTP client for {}: {}", socket, e.toString());
        }
    }
}
