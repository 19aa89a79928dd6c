package io.hvspi.tck.backend;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.spi.Hypervisor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;

/**
 * QEMU's own view through the plugin's {@code monitorCommand(String, ObjectNode)}
 * (QMP as is, like {@code virsh qemu-monitor-command}). Reached by reflection: the
 * kit does not depend on the QEMU plugin, and under {@code hvctl compat} the
 * plugin's classes (Jackson included) live in the plugin's class loader, so
 * arguments are built there and answers are read back as JSON text.
 */
final class QmpVmmView implements VmmView {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Override
    public long allocatedBytes(Hypervisor vm, String deviceId) {
        JsonNode image = inserted(vm, deviceId).path("image");
        if (!image.has("actual-size")) {
            throw new AssertionError("QEMU reports no actual-size for device '" + deviceId + "': " + image);
        }
        return image.get("actual-size").asLong();
    }

    @Override
    public void discard(Hypervisor vm, String deviceId, long offset, long length) {
        String qdev = qdev(vm, deviceId);
        ObjectNode args = JSON.createObjectNode().put("command-line",
                "qemu-io -d " + qdev + " \"discard " + offset + " " + length + "\"");
        String out = execute(vm, "human-monitor-command", args).asText();
        // HMP answers errors as text, never as a QMP error
        if (!out.isBlank()) {
            throw new AssertionError("QEMU's qemu-io discard on '" + deviceId + "' answered: " + out.strip());
        }
    }

    /** The {@code query-block} entry whose qdev is device {@code deviceId}. */
    private static JsonNode entry(Hypervisor vm, String deviceId) {
        String suffix = "/" + deviceId + "/virtio-backend";
        for (JsonNode b : execute(vm, "query-block", null)) {
            String qdev = b.path("qdev").asText();
            if (qdev.equals(deviceId) || qdev.endsWith(suffix)) {
                return b;
            }
        }
        throw new AssertionError("QEMU's query-block lists no device '" + deviceId + "'");
    }

    private static String qdev(Hypervisor vm, String deviceId) {
        return entry(vm, deviceId).path("qdev").asText();
    }

    private static JsonNode inserted(Hypervisor vm, String deviceId) {
        JsonNode inserted = entry(vm, deviceId).path("inserted");
        if (inserted.isMissingNode()) {
            throw new AssertionError("device '" + deviceId + "' has no medium in QEMU's query-block");
        }
        return inserted;
    }

    private static JsonNode execute(Hypervisor vm, String command, ObjectNode args) {
        Method m;
        try {
            m = vm.getClass().getMethod("monitorCommand", String.class, loaderObjectNodeType(vm));
        } catch (NoSuchMethodException | ClassNotFoundException e) {
            throw new AssertionError(vm.getClass().getName() + " has no monitorCommand(String, ObjectNode): "
                    + "the QEMU view needs the QEMU plugin's VM", e);
        }
        try {
            Object theirArgs = args == null ? null : readInTheirLoader(m.getParameterTypes()[1], args.toString());
            Object answer = m.invoke(vm, command, theirArgs);
            return JSON.readTree(String.valueOf(answer));
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new AssertionError(command + " failed: " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException | com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new AssertionError(command + " could not be sent through monitorCommand: " + e, e);
        }
    }

    private static Class<?> loaderObjectNodeType(Hypervisor vm) throws ClassNotFoundException {
        ClassLoader loader = vm.getClass().getClassLoader();
        return Class.forName(ObjectNode.class.getName(), false, loader);
    }

    /** Parses {@code json} with the Jackson that {@code objectNodeType} belongs to. */
    private static Object readInTheirLoader(Class<?> objectNodeType, String json) throws ReflectiveOperationException {
        Class<?> mapperType = Class.forName(ObjectMapper.class.getName(), true, objectNodeType.getClassLoader());
        Object mapper = mapperType.getConstructor().newInstance();
        return mapperType.getMethod("readTree", String.class).invoke(mapper, json);
    }
}
