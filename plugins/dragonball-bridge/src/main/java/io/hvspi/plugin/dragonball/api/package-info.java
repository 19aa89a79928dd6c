/**
 * Dragonball's config structs ({@code src/dragonball/src/api/v1}) as the bridge
 * protocol carries them: field names exactly as in Dragonball.
 */
package io.hvspi.plugin.dragonball.api;
