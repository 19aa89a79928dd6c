package io.hvspi.tck;

import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Names a contract class's area ({@code lifecycle}, {@code declaration},
 * {@code errors}, ...): the report's group for its tests that are not about one
 * capability ({@link Exercises}).
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
@Inherited
public @interface Contract {
    /** The group key, kebab-case. */
    String value();

    /** The group's title for people. */
    String title();
}
