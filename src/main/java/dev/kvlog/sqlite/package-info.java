/**
 * The embedded backend, {@code jdbc:sqlite:<file>} (and {@link dev.kvlog.KVLog#open}): one SQLite
 * file in WAL mode with {@code synchronous=FULL} is the log, a warm in-memory cache serves reads.
 * {@link dev.kvlog.sqlite.SqliteProvider} opens a {@code SqliteBackend}; under it the group-commit
 * log ({@code CommitLog}), the cache ({@code WarmCache}), the owner lock and the store's file set,
 * schema migrations, backups and the read-only reader the CLI uses for a live store. Each class
 * states the invariant it keeps; the design essay is on {@link dev.kvlog.KVLog}.
 *
 * <p>Not exported by the module: an implementation, found through {@link
 * dev.kvlog.spi.BackendProvider}; every type here may change in any release.
 */
package dev.kvlog.sqlite;
