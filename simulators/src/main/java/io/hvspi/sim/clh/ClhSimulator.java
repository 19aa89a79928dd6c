package io.hvspi.sim.clh;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.sim.VmmSimulator;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.unixdomain.server.UnixDomainServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A stand-in for Cloud Hypervisor (v51.1, the version Kata pins) that serves
 * its REST API over a Unix socket, for machines where the real VMM cannot run.
 *
 * <p>What it does like the real VMM: the endpoints, methods and request bodies
 * of its REST API, from hvspi's description of it inside this jar
 * ({@link ClhApiSpec}, checked against the published OpenAPI document by the
 * tests); every request body is validated against that description's schema
 * with a JSON schema validator, and against the stricter Rust types where the
 * document is looser; VM and device state (create, boot, pause, resume, shutdown, delete,
 * disk hotplug with PCI addresses, device removal with guest ejection);
 * Cloud Hypervisor's status codes and error bodies (a JSON array of messages);
 * real named threads {@code vcpu<i>} and {@code <id>_q<i>} in this JVM so that
 * {@code /proc} shows what it shows for the real VMM. What it does not do: run
 * a guest, read disk contents, implement endpoints beyond the VM lifecycle
 * and disk hotplug (those answer 500 naming the simulator), or take body
 * members it does not model (400, where the real VMM would act on them).
 *
 * <p>Start one per VM: {@code ClhSimulator.start(dir)}; point the plugin at
 * {@link #endpoint()} (the host option {@code endpoint}); {@link #close()} when
 * done. Like the real process, it stops serving after {@code vmm.shutdown}.
 */
public final class ClhSimulator implements VmmSimulator {
    /** The API socket's file name inside the simulator's directory. */
    public static final String SOCKET_NAME = "clh-api.sock";

    private static final Logger LOG = LoggerFactory.getLogger(ClhSimulator.class);
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    // micro_http's MAX_PAYLOAD_SIZE
    private static final int MAX_PAYLOAD_SIZE = 51200;
    private static final List<String> CUSTOM_HANDLERS = List.of("/vm.create", "/vm.info", "/vmm.ping", "/vmm.shutdown");

    /**
     * How the simulator behaves.
     *
     * @param buildVersion what {@code vmm.ping} reports as {@code build_version}
     * @param version what {@code vmm.ping} reports as {@code version}
     * @param ejectDelay how long the simulated guest runs before it ejects a removed device
     * @param checkBootFiles whether {@code vm.boot} opens the kernel, initramfs and cold-plugged disks as the
     *     real VMM does; off only to demonstrate a Kata configuration whose guest files are not on this machine
     */
    public record Options(String buildVersion, String version, Duration ejectDelay, boolean checkBootFiles) {
        public Options {
            Objects.requireNonNull(buildVersion, "buildVersion");
            Objects.requireNonNull(version, "version");
            Objects.requireNonNull(ejectDelay, "ejectDelay");
        }

        /** Version v51.1 (the one the bundled description is of), immediate ejection, files checked. */
        public static Options defaults() {
            return new Options("v51.1", "51.1.0", Duration.ZERO, true);
        }

        public Options withEjectDelay(Duration delay) {
            return new Options(buildVersion, version, delay, checkBootFiles);
        }

        public Options withCheckBootFiles(boolean check) {
            return new Options(buildVersion, version, ejectDelay, check);
        }
    }

    /**
     * One request the simulator answered.
     *
     * @param method the HTTP method
     * @param path the request path, e.g. {@code /api/v1/vm.add-disk}
     * @param body the request body, when there was one
     * @param status the status it answered with
     */
    public record Call(String method, String path, Optional<String> body, int status) {
        /** E.g. {@code PUT /api/v1/vm.boot}. */
        public String request() {
            return method + " " + path;
        }
    }

    private final Path socket;
    private final ClhApiSpec spec;
    private final ClhVmm vmm;
    private final Server server;
    private final List<Call> calls = new CopyOnWriteArrayList<>();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile Optional<Path> ownedDir = Optional.empty();
    private boolean closed; // guarded by this

    private ClhSimulator(Path socket, ClhApiSpec spec, Options options) {
        this.socket = socket;
        this.spec = spec;
        this.vmm = new ClhVmm(spec, options);
        QueuedThreadPool pool = new QueuedThreadPool(8, 2);
        pool.setName("clh-sim");
        pool.setDaemon(true);
        this.server = new Server(pool);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendDateHeader(false);
        UnixDomainServerConnector connector = new UnixDomainServerConnector(server, 1, 1, new HttpConnectionFactory(http));
        connector.setUnixDomainPath(socket);
        server.addConnector(connector);
        server.setHandler(new ApiHandler());
    }

    /** Starts a simulator with {@link Options#defaults()} serving {@code dir/}{@value #SOCKET_NAME}. */
    public static ClhSimulator start(Path dir) {
        return start(dir, Options.defaults());
    }

    /** Starts a simulator serving {@code dir/}{@value #SOCKET_NAME}; creates {@code dir} (0700) if needed. */
    public static ClhSimulator start(Path dir, Options options) {
        boolean created = !Files.isDirectory(dir);
        try {
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + dir + " for the Cloud Hypervisor simulator: " + e.getMessage(), e);
        }
        ClhSimulator sim = serve(dir.resolve(SOCKET_NAME), options);
        sim.ownedDir = created ? Optional.of(dir) : Optional.empty();
        return sim;
    }

    /** Starts a simulator serving exactly {@code socket} (mode 0600), replacing a stale socket file there. */
    public static ClhSimulator serve(Path socket, Options options) {
        ClhApiSpec spec = ClhApiSpec.bundled();
        Path path = socket.toAbsolutePath();
        if (path.toString().getBytes(StandardCharsets.UTF_8).length > UnixDomainServerConnector.MAX_UNIX_DOMAIN_PATH_LENGTH) {
            throw new IllegalArgumentException("socket path " + path + " is longer than a Unix socket allows ("
                    + UnixDomainServerConnector.MAX_UNIX_DOMAIN_PATH_LENGTH + " bytes)");
        }
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove stale socket " + path + ": " + e.getMessage(), e);
        }
        ClhSimulator sim = new ClhSimulator(path, spec, options);
        try {
            sim.server.start();
            Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-------"));
        } catch (Exception e) {
            sim.close();
            throw new IllegalStateException("cannot start the Cloud Hypervisor simulator on " + path + ": " + e.getMessage(), e);
        }
        LOG.debug("Cloud Hypervisor {} simulator serving {}", spec.version(), path);
        return sim;
    }

    @Override
    public String hypervisorType() {
        return "clh";
    }

    /** The API socket's path. */
    @Override
    public String endpoint() {
        return socket.toString();
    }

    public Path socket() {
        return socket;
    }

    /** The API it serves. */
    public ClhApiSpec spec() {
        return spec;
    }

    /** Every request answered so far, in order. */
    public List<Call> calls() {
        return List.copyOf(calls);
    }

    /** True once it stopped serving ({@link #close()} or {@code vmm.shutdown}). */
    public boolean isShutdown() {
        return stopped.getCount() == 0;
    }

    /** Waits up to {@code timeout} for it to stop serving; true when it did. */
    public boolean awaitShutdown(Duration timeout) throws InterruptedException {
        return stopped.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Stops serving, ends the simulated threads, removes the socket and the directory {@code start(dir)} made (if empty).
     * Once: after {@code vmm.shutdown} the simulator's exit thread closes it while its owner may be closing it, or
     * already deleting the directory; a later close returns when the first one is done.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        vmm.halt();
        try {
            server.stop();
        } catch (Exception e) {
            LOG.warn("Cloud Hypervisor simulator on {} did not stop cleanly: {}", socket, e.toString());
        }
        try {
            Files.deleteIfExists(socket);
            if (ownedDir.isPresent() && Files.isDirectory(ownedDir.get())) {
                try (var left = Files.list(ownedDir.get())) {
                    if (left.findAny().isEmpty()) {
                        Files.delete(ownedDir.get()); // the directory start() made, unless something else put files there
                    }
                }
            }
        } catch (IOException e) {
            LOG.warn("cannot remove {}: {}", socket, e.toString());
        }
        stopped.countDown();
    }

    // ---- request handling

    private final class ApiHandler extends Handler.Abstract {
        @Override
        public boolean handle(Request request, Response response, Callback callback) throws Exception {
            String method = request.getMethod();
            String path = request.getHttpURI().getPath();
            ByteBuffer raw = Content.Source.asByteBuffer(request);
            Optional<String> body = raw.hasRemaining()
                    ? Optional.of(StandardCharsets.UTF_8.decode(raw).toString()) : Optional.empty();
            ApiReply reply;
            try {
                reply = dispatch(method, path, body);
            } catch (RuntimeException e) {
                LOG.error("Cloud Hypervisor simulator failed on {} {}", method, path, e);
                reply = ApiReply.apiError("hvspi simulator failure: " + e);
            }
            calls.add(new Call(method, path, body, reply.status()));
            response.setStatus(reply.status());
            response.getHeaders().put(HttpHeader.SERVER, "Cloud Hypervisor API");
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
            boolean exit = reply.fatal() || "PUT".equals(method) && (ClhApiSpec.API_ROOT + "/vmm.shutdown").equals(path)
                    && reply.status() == 200;
            Callback done = exit ? Callback.from(callback, ClhSimulator.this::exitAfterReply) : callback;
            if (reply.body().isPresent()) {
                response.write(true, StandardCharsets.UTF_8.encode(reply.body().get()), done);
            } else {
                response.getHeaders().put(HttpHeader.CONTENT_LENGTH, 0L);
                response.write(true, null, done);
            }
            return true;
        }
    }

    private void exitAfterReply() {
        // as the real process exits after answering vmm.shutdown; not on a server thread, which stop() would wait for
        Thread.ofPlatform().daemon().name("clh-sim-exit").start(this::close);
    }

    /**
     * Routing and the HTTP-level checks micro_http and Cloud Hypervisor's API thread make
     * before its VMM thread sees a request.
     */
    private ApiReply dispatch(String method, String path, Optional<String> body) {
        // micro_http parses only these methods, and bodies up to MAX_PAYLOAD_SIZE
        if (!List.of("GET", "PUT", "PATCH").contains(method)) {
            return ApiReply.parseError("Invalid HTTP Method: Unsupported HTTP method.");
        }
        int size = body.map(b -> b.getBytes(StandardCharsets.UTF_8).length).orElse(0);
        if (size > MAX_PAYLOAD_SIZE) {
            return ApiReply.parseError("Request payload with size " + size + " is larger than the limit of "
                    + MAX_PAYLOAD_SIZE + " allowed by server.");
        }
        if (!path.startsWith(ClhApiSpec.API_ROOT + "/")) {
            return ApiReply.notFound();
        }
        String endpoint = path.substring(ClhApiSpec.API_ROOT.length());
        Optional<ClhApiSpec.Route> found = spec.route(endpoint);
        if (found.isEmpty()) {
            return ApiReply.notFound();
        }
        ClhApiSpec.Route route = found.get();
        if (!route.methods().contains(method)) {
            // action handlers answer PATCH with a bare 400, GET or PUT where the other is due with ["Bad Request"]
            boolean getOrPut = "GET".equals(method) || "PUT".equals(method);
            return getOrPut || CUSTOM_HANDLERS.contains(endpoint) ? ApiReply.badRequest() : ApiReply.bare(400);
        }
        if (!route.simulated()) {
            return notSimulated(method, endpoint);
        }
        Optional<JsonNode> json = Optional.empty();
        if (route.bodySchema().isPresent()) {
            if (body.isEmpty()) {
                return "/vm.create".equals(endpoint) ? ApiReply.bare(400) : ApiReply.badRequest();
            }
            try {
                JsonNode node = JSON.readTree(body.get());
                if (node == null) {
                    return ApiReply.notDeserializable("EOF while parsing a value");
                }
                json = Optional.of(node);
            } catch (JsonProcessingException e) {
                return ApiReply.notDeserializable(e.getOriginalMessage());
            }
            String schema = route.bodySchema().get();
            List<String> violations = spec.validate(schema, json.get());
            if (!violations.isEmpty()) {
                return ApiReply.notDeserializable(schema + ": " + String.join("; ", violations));
            }
            Optional<String> serde = SerdeRules.check(schema, json.get());
            if (serde.isPresent()) {
                return ApiReply.notDeserializable(serde.get());
            }
        } else if (body.isPresent() && "PUT".equals(method) && !CUSTOM_HANDLERS.contains(endpoint)) {
            // the action handlers refuse a body; vmm.shutdown's own handler never looks at it
            return ApiReply.badRequest();
        }
        ApiReply reply = perform(method, endpoint, json);
        if (reply.status() == 200 && route.okSchema().isPresent()) {
            List<String> violations = spec.validate(route.okSchema().get(), readReply(reply));
            if (!violations.isEmpty()) {
                // a simulator bug, not a VMM behaviour: make it loud
                return ApiReply.apiError("hvspi simulator bug: reply violates " + route.okSchema().get() + ": " + violations);
            }
        }
        return reply;
    }

    private ApiReply perform(String method, String endpoint, Optional<JsonNode> body) {
        return switch (endpoint) {
            case "/vmm.ping" -> vmm.ping();
            case "/vmm.shutdown" -> vmm.shutdownVmm();
            case "/vm.info" -> vmm.info();
            case "/vm.create" -> vmm.create((ObjectNode) body.orElseThrow());
            case "/vm.boot" -> vmm.boot();
            case "/vm.pause" -> vmm.pause();
            case "/vm.resume" -> vmm.resume();
            case "/vm.shutdown" -> vmm.shutdown();
            case "/vm.delete" -> vmm.delete();
            case "/vm.add-disk" -> vmm.addDisk((ObjectNode) body.orElseThrow());
            case "/vm.add-net" -> vmm.addNet((ObjectNode) body.orElseThrow());
            case "/vm.remove-device" -> vmm.removeDevice(body.orElseThrow().get("id").asText());
            default -> notSimulated(method, endpoint);
        };
    }

    private static ApiReply notSimulated(String method, String endpoint) {
        return ApiReply.apiError("hvspi simulator: " + method + " " + ClhApiSpec.API_ROOT + endpoint + " is not simulated");
    }

    private static JsonNode readReply(ApiReply reply) {
        try {
            return JSON.readTree(reply.body().orElse("null"));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("simulator reply is not JSON: " + reply.body(), e);
        }
    }
}
