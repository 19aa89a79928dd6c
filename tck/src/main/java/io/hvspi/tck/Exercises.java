package io.hvspi.tck;

import io.hvspi.spi.Capability;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * The capability a contract test is about. The compatibility report groups rows
 * by it; a capability no test names is reported as "not exercised by the kit".
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
public @interface Exercises {
    Capability value();
}
