/**
 * The {@code kvlog} command line (picocli): one command per operation over a store file or a
 * PostgreSQL URL, with import/export as JSON lines and a progress bar. Built into the
 * self-contained {@code kvlog-cli.jar}; its dependencies (picocli, the progress bar, Jackson, a
 * logger binding) are optional in the library's pom, so they never reach a library user. Not
 * exported by the module; opened to picocli only, which reads the commands' annotations
 * reflectively.
 */
package dev.kvlog.cli;
