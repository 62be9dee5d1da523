package dev.kvlog.sqlite;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.sqlite.SQLiteErrorCode;

/** The hint of a failed write agrees with its flags. */
class ErrorsTest {
  /** trigger ABORT/FAIL/ROLLBACK, CHECK: a clean failure never says its outcome is unknown. */
  @Test
  void writeHint_ofAFailureThatLeftTheStoreUnchanged_neverSaysTheOutcomeIsUnknown() {
    for (SQLiteErrorCode code : SQLiteErrorCode.values()) {
      int primary = code.code & 0xff;
      if (Errors.leftStoreUnchanged(primary)) {
        assertThat(Errors.writeHint(primary)).as(code.name()).doesNotContain("unknown");
      }
    }
    assertThat(Errors.writeHint(-1)).contains("outcome is unknown");
  }
}
