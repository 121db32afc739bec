/**
 * A loopback DNS server for tests: answers PTR and A questions from a fixed table (or a function of how
 * often a name was asked) over UDP.
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
  /**
   * Answers instead of the table when it returns records: called with the question's name and how many
   * questions for that name and type came before (0 the first time), so a test can answer differently
   * the second time (DNS rebinding).
   */
  answer?: (name: string, asked: number) => DnsRecord[] | undefined;
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

  const asked = new Map<string, number>();
  const server = dns2.createServer({
    udp: true,
    handle(request, send) {
      const response = Packet.createResponseFromRequest(request);
      const question = request.questions[0];
      if (question) options.onQuery?.(question.name);
      let matches = question ? table.get(normalise(question.name)) : undefined;
      if (question && options.answer) {
        const key = `${normalise(question.name)} ${question.type}`;
        const n = asked.get(key) ?? 0;
        asked.set(key, n + 1);
        matches = options.answer(normalise(question.name), n) ?? matches;
      }
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

/**
 * Asks only the test server at `port` for `name`'s A records, over UDP with dns2's client: unlike
 * `Deno.resolveDns`, which answers names in /etc/hosts itself, this never reads /etc/hosts.
 */
export async function lookupA(port: number, name: string): Promise<string[]> {
  const query = dns2.UDPClient({ dns: "127.0.0.1", port, timeout: 5_000 });
  const response = await query(name, "A");
  return response.answers
    .map((answer) => (answer as { address?: string }).address)
    .filter((address): address is string => typeof address === "string");
}
