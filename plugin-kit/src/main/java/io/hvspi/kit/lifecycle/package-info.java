/** The SPI's VM lifecycle as one state machine with uniform refusals. */
package io.hvspi.kit.lifecycle;
