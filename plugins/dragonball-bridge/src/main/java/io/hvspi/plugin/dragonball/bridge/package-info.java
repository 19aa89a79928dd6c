/** The client side of the hvspi Dragonball bridge protocol ({@code docs/dragonball-bridge-protocol.md}). */
package io.hvspi.plugin.dragonball.bridge;
