package dev.kvlog;

import java.nio.file.Path;

/**
 * A point-in-time snapshot of a store, from {@link KVLog#stats()}.
 *
 * @param path the database file
 * @param entries number of keys
 * @param databaseBytes size of the database file
 * @param walBytes size of the {@code -wal} file (0 after a clean close)
 * @param schemaVersion the schema version recorded in the store
 */
public record KVLogStats(
    Path path, int entries, long databaseBytes, long walBytes, int schemaVersion) {}
