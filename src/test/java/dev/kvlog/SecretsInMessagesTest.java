package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import org.junit.jupiter.api.Test;

/** No library message prints a password written in a JDBC URL, whatever form it takes. */
class SecretsInMessagesTest {

  @Test
  void connect_unsupportedUrlWithUserInfoPassword_messageMasksIt() {
    Throwable e = catchThrowable(() -> KVLog.connect("jdbc:mysql://app:hunter2@db.example/kv"));

    assertThat(e).isInstanceOf(IllegalArgumentException.class);
    assertThat(e.getMessage()).contains("app:***@db.example").doesNotContain("hunter2");
  }

  @Test
  void postgresBuilder_unreachableServer_noMessageInTheChainPrintsTheSecrets() {
    Throwable e =
        catchThrowable(
            () ->
                KVLog.builder(
                        "jdbc:postgresql://app:hunter2@127.0.0.1:1/kv?sslpassword=s3cr3t"
                            + "&connectTimeout=1")
                    .open());

    assertThat(e).isNotNull();
    for (Throwable t = e; t != null; t = t.getCause()) {
      assertThat(String.valueOf(t.getMessage())).doesNotContain("hunter2").doesNotContain("s3cr3t");
    }
    assertThat(e.toString()).doesNotContain("hunter2");
  }
}
