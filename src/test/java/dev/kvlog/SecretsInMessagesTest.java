package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import dev.kvlog.cli.MainAccess;
import dev.kvlog.internal.Secrets;
import java.util.List;
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

  /**
   * Outside review: a password holding '/', '@' or '#' was cut short, so the rest of it was
   * printed. pgjdbc keeps '/', '@', '#' and ';' in a parameter value (a value ends at '&'), and
   * user-info ends at the last '@' before the query.
   */
  private static final List<String[]> PUNCTUATED =
      List.of(
          new String[] {
            "jdbc:postgresql://postgres:pa/ssw0rd@127.0.0.1:1/test?currentSchema=x", "pa/ssw0rd"
          },
          new String[] {"jdbc:postgresql://postgres:pa@ss@127.0.0.1:1/test", "pa@ss"},
          new String[] {
            "jdbc:postgresql://127.0.0.1:1/test?user=postgres&password=topsecret#tail123",
            "topsecret#tail123"
          },
          new String[] {
            "jdbc:postgresql://127.0.0.1:1/test?password=a;b/c@d#e&user=postgres", "a;b/c@d#e"
          });

  /** What leaked: the secret from its first '/', '@', '#' or ';' on. */
  private static String tail(String secret) {
    return secret.substring(secret.replaceFirst("[/@#;].*", "").length());
  }

  @Test
  void redact_passwordWithSlashAtOrHash_masksAllOfIt() {
    for (String[] c : PUNCTUATED) {
      assertThat(Secrets.of(c[0])).as(c[0]).contains(c[1]);
      String shown = Secrets.redact(c[0]);
      assertThat(shown).as(c[0]).doesNotContain(c[1]);
      assertThat(shown).as(c[0]).doesNotContain(tail(c[1]));
    }
    // The whole secret is masked, not a fragment of it wherever that fragment appears.
    assertThat(Secrets.redact("jdbc:postgresql://postgres:pa/ssw0rd@127.0.0.1:1/test?password=x"))
        .contains("password=");
  }

  @Test
  void connect_passwordWithSlashAtOrHash_noMessageInTheChainPrintsAnyOfIt() {
    for (String[] c : PUNCTUATED) {
      Throwable e =
          catchThrowable(
              () -> KVLog.connect(c[0] + (c[0].contains("?") ? "&" : "?") + "connectTimeout=1"));
      assertThat(e).as(c[0]).isNotNull();
      for (Throwable t = e; t != null; t = t.getCause()) {
        assertThat(String.valueOf(t.getMessage())).as(c[0]).doesNotContain(tail(c[1]));
      }
      assertThat(KVLog.builder(c[0]).toString()).as(c[0]).doesNotContain(tail(c[1]));
    }
  }

  @Test
  void openStore_passwordWithHash_toStringMasksAllOfIt() throws Exception {
    String schemaUrl = PostgresTestServer.freshSchema();
    try (KVLog<String, String> kv = KVLog.connect(schemaUrl + "&password=topsecret#tail123")) {
      assertThat(kv.toString()).doesNotContain("topsecret").doesNotContain("tail123");
    } finally {
      PostgresTestServer.drop(schemaUrl);
    }
  }

  @Test
  void cli_passwordWithSlashAtOrHash_isNotPrinted() {
    MainAccess.Result r =
        MainAccess.run(
            "--url",
            "jdbc:postgresql://127.0.0.1:1/nosuch?user=postgres&password=top#secret",
            "get",
            "k");
    assertThat(r.code()).isNotZero();
    assertThat(r.out() + r.err()).doesNotContain("#secret");
    for (String[] c : PUNCTUATED) {
      for (String[] args :
          List.of(
              new String[] {"--url", c[0], "get", "k"},
              new String[] {"--url", c[0], "set", "k", "v"},
              new String[] {"copy", "--from", c[0], "--to", c[0] + "x"})) {
        MainAccess.Result each = MainAccess.run(args);
        assertThat(each.code()).as(String.join(" ", args)).isNotZero();
        assertThat(each.out() + each.err()).as(String.join(" ", args)).doesNotContain(tail(c[1]));
      }
    }
  }
}
