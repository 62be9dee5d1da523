package dev.kvlog;

import java.nio.file.Path;
import java.util.List;
import net.jqwik.api.ForAll;
import net.jqwik.api.From;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.Size;

/**
 * The jqwik model on stores with a 4 KiB bounded cache ({@link CacheMode#SMALL_CACHE}): the same
 * operation sequences, restarts and external transactions, where most gets miss (a fresh store, a
 * cache dropped after each external commit, and values up to 1.5 MB in the string fuzz, each larger
 * than the cache). Fewer tries than the whole-table run, to keep the build's time.
 */
class BoundedModelPropertyTest extends ModelPropertyTest {
  @Override
  KVLog<String, String> open(Path db) {
    return CacheMode.BOUNDED
        .configure(KVLog.builder(db))
        .externalChangeCheck(java.time.Duration.ZERO)
        .open();
  }

  @Override
  String modeNote() {
    return ", bounded 4 KiB cache";
  }

  @Override
  @Property(tries = 16)
  void storeBehavesLikeAMap_acrossRestarts(@ForAll @Size(max = 40) List<@From("steps") Step> steps)
      throws Exception {
    super.storeBehavesLikeAMap_acrossRestarts(steps);
  }

  @Override
  @Property(tries = 120)
  void anyString_roundTripsOrIsRefusedClearly(
      @ForAll("nastyStrings") String key, @ForAll("nastyStrings") String value) {
    super.anyString_roundTripsOrIsRefusedClearly(key, value);
  }
}
