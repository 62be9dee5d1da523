package dev.kvlog;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;

/**
 * A TCP proxy for tests that injects network faults between a client and a server: forward; cut a
 * connection after N more bytes or right after (or instead of) a client message containing a
 * marker; black-hole a connection (keep it open, deliver nothing, no RST or FIN), in one or both
 * directions; delay every chunk; cut everything and refuse new connections for a while (what a
 * server restart looks like to clients).
 *
 * <p>Markers are matched within one read of the client's stream; PostgreSQL clients send each
 * message (and usually a whole Parse/Bind/Execute/Sync group) in one write, so a query text such as
 * {@code COMMIT} arrives whole in practice.
 *
 * <p>Thread-safe. Never use it for anything but tests.
 */
final class FaultProxy implements AutoCloseable {
  /** A rule that fires once, on the first client chunk containing {@code marker}. */
  private record Cut(String marker, boolean forwardFirst) {}

  private final String host;
  private final int targetPort;
  private final ServerSocket server;
  private final List<Link> links = new CopyOnWriteArrayList<>();
  private final AtomicReference<Cut> cut = new AtomicReference<>();
  private volatile long refuseUntilNanos;
  private volatile long delayMillis;
  private volatile long restartAfterCutMillis;
  private volatile boolean closed;

  FaultProxy(String host, int targetPort) throws IOException {
    this.host = host;
    this.targetPort = targetPort;
    server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread accept = new Thread(this::acceptLoop, "fault-proxy-accept");
    accept.setDaemon(true);
    accept.start();
  }

  /** A proxy in front of the server a {@code jdbc:postgresql://host:port/...} URL names. */
  static FaultProxy forJdbcUrl(String url) throws IOException {
    String rest = url.substring("jdbc:postgresql://".length());
    String hostPort = rest.substring(0, rest.indexOf('/'));
    int colon = hostPort.lastIndexOf(':');
    return colon < 0
        ? new FaultProxy(hostPort, 5432)
        : new FaultProxy(
            hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)));
  }

  /** {@code url} with its host and port replaced by this proxy's. */
  String route(String url) {
    String rest = url.substring("jdbc:postgresql://".length());
    return "jdbc:postgresql://127.0.0.1:"
        + server.getLocalPort()
        + rest.substring(rest.indexOf('/'));
  }

  /** The next client chunk containing {@code marker} is forwarded, then its connection is cut. */
  void cutAfterClientMessage(String marker) {
    cut.set(new Cut(marker, true));
  }

  /** The next client chunk containing {@code marker} is dropped and its connection cut. */
  void cutBeforeClientMessage(String marker) {
    cut.set(new Cut(marker, false));
  }

  /** When the armed cut fires, every connection is cut and new ones refused for {@code millis}. */
  void restartAfterCut(long millis) {
    restartAfterCutMillis = millis;
  }

  /** Whether an armed cut rule has fired. */
  boolean cutFired() {
    return cut.get() == null;
  }

  /** Every current connection that matches stops delivering, in both directions, silently. */
  int blackHole(Predicate<Link> which) {
    return blackHole(which, true, true);
  }

  int blackHole(Predicate<Link> which, boolean toServer, boolean toClient) {
    int n = 0;
    for (Link l : links) {
      if (which.test(l)) {
        l.dropToServer |= toServer;
        l.dropToClient |= toClient;
        n++;
      }
    }
    return n;
  }

  /** Current connections whose client has sent {@code marker} (e.g. "LISTEN"). */
  static Predicate<Link> clientSent(String marker) {
    return l -> l.clientSent(marker);
  }

  /**
   * The local ports of the matching connections towards the server (pg_stat_activity's
   * client_port).
   */
  List<Integer> serverSidePorts(Predicate<Link> which) {
    return links.stream().filter(which).map(l -> l.upstream.getLocalPort()).toList();
  }

  /** Cuts every connection after it forwards {@code bytes} more bytes (either direction). */
  void cutAfterBytes(long bytes) {
    for (Link l : links) {
      l.budget = bytes;
    }
  }

  /** Delays every forwarded chunk by {@code millis} (0: none). */
  void delay(long millis) {
    delayMillis = millis;
  }

  /** Refuses new connections for {@code millis}; current ones go on working. */
  void refuseNew(long millis) {
    refuseUntilNanos = System.nanoTime() + millis * 1_000_000;
  }

  /** Cuts every connection (FIN both ways) and refuses new ones for {@code millis}. */
  void restart(long millis) {
    refuseUntilNanos = System.nanoTime() + millis * 1_000_000;
    for (Link l : links) {
      l.close();
    }
  }

  int port() {
    return server.getLocalPort();
  }

  private void acceptLoop() {
    while (!closed) {
      Socket client;
      try {
        client = server.accept();
      } catch (IOException e) {
        return;
      }
      if (System.nanoTime() - refuseUntilNanos < 0) {
        closeQuietly(client); // "refused": the client sees the connection end at once
        continue;
      }
      try {
        Socket upstream = new Socket(host, targetPort);
        Link l = new Link(client, upstream);
        links.add(l);
        l.start();
      } catch (IOException e) {
        closeQuietly(client);
      }
    }
  }

  /** One proxied connection. */
  final class Link {
    final Socket client;
    final Socket upstream;
    private final StringBuffer clientText = new StringBuffer();
    volatile boolean dropToServer;
    volatile boolean dropToClient;
    volatile long budget = Long.MAX_VALUE;

    Link(Socket client, Socket upstream) {
      this.client = client;
      this.upstream = upstream;
    }

    boolean clientSent(String marker) {
      return clientText.indexOf(marker) >= 0;
    }

    void start() throws IOException {
      pump(client.getInputStream(), upstream.getOutputStream(), true);
      pump(upstream.getInputStream(), client.getOutputStream(), false);
    }

    private void pump(InputStream in, OutputStream out, boolean fromClient) {
      Thread t =
          new Thread(
              () -> {
                byte[] buf = new byte[16384];
                try {
                  for (int n; (n = in.read(buf)) > 0; ) {
                    if (fromClient) {
                      String text = new String(buf, 0, n, StandardCharsets.ISO_8859_1);
                      if (clientText.length() < 65536) {
                        clientText.append(text);
                      }
                      Cut c = cut.get();
                      if (c != null && text.contains(c.marker()) && cut.compareAndSet(c, null)) {
                        // The client's side goes first, so no reply can reach it: the client
                        // knows only that it sent the message.
                        closeQuietly(client);
                        if (c.forwardFirst()) {
                          out.write(buf, 0, n);
                          out.flush();
                        }
                        close();
                        long outage = restartAfterCutMillis;
                        if (outage > 0) {
                          restartAfterCutMillis = 0;
                          restart(outage);
                        }
                        return;
                      }
                    }
                    if (fromClient ? dropToServer : dropToClient) {
                      continue; // black hole: read and discard, so nothing ever signals
                    }
                    long d = delayMillis;
                    if (d > 0) {
                      Thread.sleep(d);
                    }
                    long left = budget;
                    if (left < n) {
                      out.write(buf, 0, (int) Math.max(0, left));
                      out.flush();
                      close();
                      return;
                    }
                    if (left != Long.MAX_VALUE) {
                      budget = left - n;
                    }
                    out.write(buf, 0, n);
                    out.flush();
                  }
                } catch (IOException | InterruptedException e) {
                  // the other side or a fault closed the link
                }
                if (!(fromClient ? dropToServer : dropToClient)) {
                  close();
                }
              },
              "fault-proxy-" + (fromClient ? "up" : "down"));
      t.setDaemon(true);
      t.start();
    }

    void close() {
      closeQuietly(client);
      closeQuietly(upstream);
      links.remove(this);
    }
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException ignored) {
      // already closed
    }
  }

  @Override
  public void close() {
    closed = true;
    closeQuietly(server);
    links.forEach(Link::close);
  }

  private static void closeQuietly(ServerSocket s) {
    try {
      s.close();
    } catch (IOException ignored) {
      // already closed
    }
  }
}
