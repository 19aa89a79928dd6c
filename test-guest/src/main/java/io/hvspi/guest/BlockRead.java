package io.hvspi.guest;

/**
 * What the guest read from the first 4096 bytes of a disk ({@code HVSPI READ}).
 *
 * @param device the guest's device name, e.g. {@code vda}
 * @param sha256 lower-case hex SHA-256 of the 4096 bytes
 * @param text the block's first line with every character outside {@code [A-Za-z0-9._-]}
 *     removed, at most 256 characters: the token a {@code write} put there
 */
public record BlockRead(String device, String sha256, String text) {}
