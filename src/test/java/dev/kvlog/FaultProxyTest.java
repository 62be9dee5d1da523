package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The test proxy's faults, against an echo server that also records what it received. */
class FaultProxyTest {
  ServerSocket echo;
  final ByteArrayOutputStream received = new ByteArrayOutputStream();
  final CopyOnWriteArrayList<Socket> accepted = new CopyOnWriteArrayList<>();
  FaultProxy proxy;

  @BeforeEach
  void start() throws IOException {
    echo = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread t =
        new Thread(
            () -> {
              try {
                for (; ; ) {
                  Socket s = echo.accept();
                  accepted.add(s);
                  Thread serve =
                      new Thread(
                          () -> {
                            byte[] buf = new byte[1024];
                            try (s) {
                              for (int n; (n = s.getInputStream().read(buf)) > 0; ) {
                                synchronized (received) {
                                  received.write(buf, 0, n);
                                }
                                s.getOutputStream().write(buf, 0, n);
                              }
                            } catch (IOException ignored) {
                              // the proxy cut the connection
                            }
                          });
                  serve.setDaemon(true);
                  serve.start();
                }
              } catch (IOException closed) {
                // end of test
              }
            });
    t.setDaemon(true);
    t.start();
    proxy = new FaultProxy("127.0.0.1", echo.getLocalPort());
  }

  @AfterEach
  void stop() throws IOException {
    proxy.close();
    echo.close();
  }

  Socket connect() throws IOException {
    Socket s = new Socket("127.0.0.1", proxy.port());
    s.setSoTimeout(2_000);
    return s;
  }

  String received() {
    synchronized (received) {
      return received.toString(StandardCharsets.ISO_8859_1);
    }
  }

  static String read(InputStream in, int n) throws IOException {
    return new String(in.readNBytes(n), StandardCharsets.ISO_8859_1);
  }

  @Test
  void forwardsBothWays() throws IOException {
    try (Socket s = connect()) {
      s.getOutputStream().write("hello".getBytes(StandardCharsets.ISO_8859_1));
      assertThat(read(s.getInputStream(), 5)).isEqualTo("hello");
    }
  }

  @Test
  void cutAfterClientMessage_forwardsItThenEnds() throws Exception {
    try (Socket s = connect()) {
      proxy.cutAfterClientMessage("COMMIT");
      s.getOutputStream().write("xxCOMMITxx".getBytes(StandardCharsets.ISO_8859_1));
      assertThat(s.getInputStream().read()).isEqualTo(-1); // FIN, and never the echo
      assertThat(proxy.cutFired()).isTrue();
    }
    awaitReceived("xxCOMMITxx");
  }

  @Test
  void cutBeforeClientMessage_dropsIt() throws Exception {
    try (Socket s = connect()) {
      s.getOutputStream().write("a".getBytes(StandardCharsets.ISO_8859_1));
      assertThat(read(s.getInputStream(), 1)).isEqualTo("a");
      proxy.cutBeforeClientMessage("COMMIT");
      s.getOutputStream().write("COMMIT".getBytes(StandardCharsets.ISO_8859_1));
      assertThat(s.getInputStream().read()).isEqualTo(-1);
    }
    Thread.sleep(200);
    assertThat(received()).isEqualTo("a");
  }

  @Test
  void cutAfterBytes_forwardsOnlyTheBudget() throws Exception {
    try (Socket s = connect()) {
      s.getOutputStream().write("a".getBytes(StandardCharsets.ISO_8859_1));
      assertThat(read(s.getInputStream(), 1)).isEqualTo("a");
      proxy.cutAfterBytes(3);
      s.getOutputStream().write("0123456789".getBytes(StandardCharsets.ISO_8859_1));
      // then EOF; the echo of the 3 bytes may or may not make it back before the cut
      assertThat(new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1))
          .isIn("", "0", "01", "012");
    }
    awaitReceived("a012");
  }

  @Test
  void blackHole_deliversNothingAndNeverCloses() throws Exception {
    try (Socket s = connect()) {
      s.getOutputStream().write("a".getBytes(StandardCharsets.ISO_8859_1));
      assertThat(read(s.getInputStream(), 1)).isEqualTo("a");
      assertThat(proxy.blackHole(l -> true, false, true)).isEqualTo(1); // server to client only
      s.setSoTimeout(300);
      s.getOutputStream().write("b".getBytes(StandardCharsets.ISO_8859_1));
      assertThatThrownBy(() -> s.getInputStream().read())
          .isInstanceOf(SocketTimeoutException.class); // neither data nor FIN nor RST
    }
    awaitReceived("ab"); // the other direction still flows
  }

  @Test
  void restart_cutsEverythingAndRefusesForAWhile() throws Exception {
    try (Socket s = connect()) {
      proxy.restart(500);
      assertThat(s.getInputStream().read()).isEqualTo(-1);
    }
    try (Socket refused = connect()) {
      assertThat(refused.getInputStream().read()).isEqualTo(-1);
    }
    Thread.sleep(600);
    forwardsBothWays();
  }

  @Test
  void delay_holdsEachChunk() throws IOException {
    proxy.delay(200);
    try (Socket s = connect()) {
      long start = System.nanoTime();
      s.getOutputStream().write("a".getBytes(StandardCharsets.ISO_8859_1));
      assertThat(read(s.getInputStream(), 1)).isEqualTo("a");
      assertThat((System.nanoTime() - start) / 1_000_000).isGreaterThanOrEqualTo(400); // both ways
    }
  }

  void awaitReceived(String expected) throws InterruptedException {
    long deadline = System.nanoTime() + 5_000_000_000L;
    while (!received().equals(expected) && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertThat(received()).isEqualTo(expected);
  }
}
