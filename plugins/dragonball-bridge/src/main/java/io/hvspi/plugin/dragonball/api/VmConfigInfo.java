package io.hvspi.plugin.dragonball.api;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The part of Dragonball's {@code VmConfigInfo} hvspi sets through
 * {@code SetVmConfiguration}; the other fields keep Dragonball's defaults.
 *
 * @param vcpuCount {@code vcpu_count}
 * @param maxVcpuCount {@code max_vcpu_count}
 * @param memSizeMib {@code mem_size_mib}
 * @param pciHotplugEnabled {@code pci_hotplug_enabled}: needed to hotplug virtio-blk-pci devices
 */
public record VmConfigInfo(int vcpuCount, int maxVcpuCount, long memSizeMib, boolean pciHotplugEnabled) {

    public ObjectNode toJson() {
        return JsonNodeFactory.instance.objectNode()
                .put("vcpu_count", vcpuCount)
                .put("max_vcpu_count", maxVcpuCount)
                .put("mem_size_mib", memSizeMib)
                .put("pci_hotplug_enabled", pciHotplugEnabled);
    }
}
