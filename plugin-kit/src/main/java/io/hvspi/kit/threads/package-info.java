/** Host threads of a VMM process, read from /proc. */
package io.hvspi.kit.threads;
