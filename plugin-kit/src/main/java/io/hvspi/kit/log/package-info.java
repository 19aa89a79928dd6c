/** What a plugin quotes of its VMM's log in error messages. */
package io.hvspi.kit.log;
