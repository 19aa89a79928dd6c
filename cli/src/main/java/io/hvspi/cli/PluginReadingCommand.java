package io.hvspi.cli;

import picocli.CommandLine.Mixin;

/** A command that reads the installed plugins and starts no VM: only --plugins-dir acts on it. */
abstract class PluginReadingCommand extends CliCommand {
    @Mixin
    PluginOptions pluginOptions;
}
