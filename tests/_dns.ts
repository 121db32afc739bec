/**
 * A loopback DNS server for tests: answers PTR and A questions from a fixed table over UDP.
 *
 * @module
 */
import dns2 from "dns2";

/** One answer record the test server returns. */
export interface DnsRecord {
  type: "PTR" | "A";
  /** The PTR target hostname, or the IPv4 address of an A record. */
  value: string;
}

/** Options for {@linkcode startDnsServer}. */
export interface DnsServerOptions {
  /** Wait this long before answering, to test deadlines. @default 0 */
  delayMs?: number;
  /**
   * Answer every question with the truncated (TC) bit set and no records, so the client retries over TCP,
   * where nothing listens: a quick, deterministic lookup failure. (Deno.resolveDns reports SERVFAIL,
   * REFUSED and NXDOMAIN alike as NotFound, so an rcode cannot simulate a failure.) @default false
   */
  truncate?: boolean;
  /** Called with each question's name as it arrives, before any delay. */
  onQuery?: (name: string) => void;
}

/** A running test DNS server. */
export interface DnsServer {
  /** The UDP port it listens on at 127.0.0.1. */
  port: number;
  /** Stops the server and drops pending delayed answers. */
  close(): Promise<void>;
}

/**
 * Starts a UDP DNS server on 127.0.0.1 (random port) answering from `records`; unknown names get NXDOMAIN.
 *
 * @example
 * ```ts
 * const server = await startDnsServer({ "4.3.2.1.in-addr.arpa": [{ type: "PTR", value: "host.test" }] });
 * const names = await Deno.resolveDns("4.3.2.1.in-addr.arpa", "PTR", {
 *   nameServer: { ipAddr: "127.0.0.1", port: server.port },
 * });
 * await server.close();
 * ```
 */
export async function startDnsServer(
  records: Record<string, DnsRecord[]>,
  options: DnsServerOptions = {},
): Promise<DnsServer> {
  const { Packet } = dns2;
  const delayMs = options.delayMs ?? 0;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const table = new Map(
    Object.entries(records).map(([name, list]) => [normalise(name), list]),
  );

  const server = dns2.createServer({
    udp: true,
    handle(request, send) {
      const response = Packet.createResponseFromRequest(request);
      const question = request.questions[0];
      if (question) options.onQuery?.(question.name);
      const matches = question
        ? table.get(normalise(question.name))
        : undefined;
      if (options.truncate) {
        response.header.tc = 1;
      } else if (!question || !matches) {
        response.header.rcode = Packet.RCODE.NXDOMAIN;
      } else {
        for (const record of matches) {
          const type = Packet.TYPE[record.type];
          if (type !== question.type) continue;
          response.answers.push(Packet.createResourceFromQuestion(question, {
            ttl: 60,
            ...(record.type === "PTR"
              ? { domain: record.value }
              : { address: record.value }),
          }));
        }
      }
      if (delayMs <= 0) {
        send(response);
        return;
      }
      const timer = setTimeout(() => {
        timers.delete(timer);
        send(response);
      }, delayMs);
      timers.add(timer);
    },
  });
  server.on("requestError", () => {});
  const addresses = await server.listen({
    udp: { port: 0, address: "127.0.0.1" },
  });
  const port = addresses.udp?.port;
  if (!port) throw new Error("Cannot start test DNS server: no UDP port bound");

  return {
    port,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await server.close();
    },
  };
}

function normalise(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}
