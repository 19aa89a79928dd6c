package io.hvspi.guest;

/**
 * A block device the guest reported ({@code HVSPI DISK-ADDED}).
 *
 * @param name the guest's name for it, e.g. {@code vda}
 * @param serial the virtio-blk {@code serial} property as the guest read it (at most 20
 *     characters: virtio-blk truncates longer ones), empty if none
 * @param sizeBytes its capacity in bytes
 */
public record GuestDisk(String name, String serial, long sizeBytes) {}
