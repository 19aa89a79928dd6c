/** One newline-delimited JSON connection over a Unix socket, with hvspi's fault behaviour, and reply waiting. */
package io.hvspi.kit.channel;
