/**
 * Tools over whole stores, for the {@code kvlog} command line and tests: a read-only {@link
 * dev.kvlog.tools.Source} (a live SQLite file read without the owner lock, or PostgreSQL in
 * read-only transactions) and {@link dev.kvlog.tools.StoreCopy}, which copies every entry from one
 * store to another and verifies the copy.
 *
 * <p>Not an API: this package is not exported, and every type here may change in any release. It
 * lives in the library rather than in {@code dev.kvlog.cli} so that the copy and its verification
 * are tested directly, not only through the command line's output. It may use both backends (as the
 * command line does); no backend, and nothing in {@code dev.kvlog}, {@code spi} or {@code
 * internal}, may use it.
 */
package dev.kvlog.tools;
