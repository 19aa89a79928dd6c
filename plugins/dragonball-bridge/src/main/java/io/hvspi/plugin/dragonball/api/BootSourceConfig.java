package io.hvspi.plugin.dragonball.api;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Optional;

/**
 * Dragonball's {@code BootSourceConfig}, the config of {@code ConfigureBootSource}.
 *
 * @param kernelPath {@code kernel_path}: an uncompressed kernel
 * @param initrdPath {@code initrd_path}
 * @param bootArgs {@code boot_args}; absent means Dragonball's default command line
 */
public record BootSourceConfig(String kernelPath, Optional<String> initrdPath, Optional<String> bootArgs) {

    public ObjectNode toJson() {
        ObjectNode n = JsonNodeFactory.instance.objectNode().put("kernel_path", kernelPath);
        initrdPath.ifPresent(p -> n.put("initrd_path", p));
        bootArgs.ifPresent(a -> n.put("boot_args", a));
        return n;
    }
}
