package dev.kvlog.spi;

/**
 * Optional abilities of a {@link Backend}. The facade calls the matching method only when the
 * backend lists the capability, and otherwise throws {@link UnsupportedOperationException} naming
 * the backend and the capability.
 */
public enum Capability {
  /** {@link Backend#backup}: a consistent, durable copy of the store in a file. */
  BACKUP,
  /** {@link Backend#stats}: sizes of the files and commit figures. */
  STATS,
  /** {@link Backend#check}: an integrity check of the stored data while the store is in use. */
  INTEGRITY_CHECK,
  /**
   * The backend holds an exclusive owner lock on its files while it is open: a second open of the
   * same store, in this process or another, is refused.
   */
  OWNER_LOCK,
  /** {@link Backend#file}: the store is one local file. */
  LOCAL_FILE
}
