import assert from "node:assert/strict";
import type { Buffer } from "node:buffer";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";
import { SmtpPool } from "./smtp_pool.ts";

/** A loopback smtp-server that counts sessions (open now, and at most at once) and keeps messages. */
async function server(options: Partial<SMTPServerOptions> = {}) {
  const stats = { sessions: 0, open: 0, maxOpen: 0, resets: 0 };
  const messages: { to: string[]; raw: string; secure: boolean }[] = [];
  let refuse = 0;
  const sockets = new Set<{ destroy(): void }>();
  const smtp = new SMTPServer({
    logger: false,
    authOptional: true,
    disableReverseLookup: true,
    disabledCommands: ["STARTTLS"],
    onConnect(_session, callback) {
      stats.sessions++;
      stats.open++;
      stats.maxOpen = Math.max(stats.maxOpen, stats.open);
      callback();
    },
    onClose() {
      stats.open--;
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        if (refuse > 0) {
          refuse--;
          return callback(
            Object.assign(new Error("Mailbox busy"), { responseCode: 450 }),
          );
        }
        messages.push({
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: chunks.map((c) => c.toString("latin1")).join(""),
          secure: Boolean((session as { secure?: boolean }).secure),
        });
        callback();
      });
    },
    ...options,
  });
  smtp.on("error", () => {});
  smtp.server.on(
    "connection",
    (socket: { destroy(): void; on(e: string, f: () => void): void }) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    },
  );
  const port = await new Promise<number>((resolve) =>
    smtp.listen(
      0,
      "127.0.0.1",
      () => resolve((smtp.server.address() as { port: number }).port),
    )
  );
  return {
    port,
    stats,
    messages,
    refuseNext(n: number) {
      refuse = n;
    },
    /** Drops every client connection, as a server timing out idle sessions does. */
    dropAll() {
      for (const socket of sockets) socket.destroy();
    },
    close: () => new Promise<void>((resolve) => smtp.close(() => resolve())),
  };
}

function pool(port: number, connections = 2) {
  return new SmtpPool({
    host: "127.0.0.1",
    port,
    secure: false,
    ignoreTLS: true,
    timeoutMs: 5000,
    connections,
  });
}

const raw = (id: string) =>
  new TextEncoder().encode(
    `Message-ID: <${id}@t>\r\nSubject: t\r\n\r\n.leading dot\r\nbody ${id}\r\n`,
  );
const envelope = { from: "blitz@example.test", to: ["soc@example.test"] };

Deno.test("SmtpPool reuses one connection for messages sent one after another, dot-stuffed", async () => {
  const s = await server();
  const p = pool(s.port);
  try {
    for (let i = 0; i < 5; i++) {
      const result = await p.send(envelope, raw(`m${i}`));
      assert.match(result.response, /^250/);
    }
    assert.equal(s.messages.length, 5);
    assert.equal(s.stats.sessions, 1);
    // The server un-stuffs the dot it received: the bytes arrive as built.
    assert.match(s.messages[0]!.raw, /\r\n\.leading dot\r\nbody m0/);
  } finally {
    await p.close();
    await s.close();
  }
});

Deno.test("SmtpPool opens at most `connections` sessions for concurrent sends", async () => {
  const s = await server();
  const p = pool(s.port, 3);
  try {
    const ids = Array.from({ length: 20 }, (_, i) => `c${i}`);
    await Promise.all(ids.map((id) => p.send(envelope, raw(id))));
    assert.equal(s.messages.length, 20);
    assert.ok(s.stats.maxOpen <= 3, `max open ${s.stats.maxOpen}`);
    assert.ok(s.stats.sessions <= 3);
  } finally {
    await p.close();
    await s.close();
  }
});

Deno.test("SmtpPool keeps a connection after a refused message, and replaces one the server dropped", async () => {
  const s = await server();
  const p = pool(s.port, 1);
  try {
    s.refuseNext(1);
    await assert.rejects(
      p.send(envelope, raw("refused")),
      (err: { responseCode?: number }) => err.responseCode === 450,
    );
    await p.send(envelope, raw("after-refusal"));
    assert.equal(s.stats.sessions, 1, "RSET and reuse, no new session");
    s.dropAll();
    await new Promise((r) => setTimeout(r, 50));
    await p.send(envelope, raw("after-drop"));
    assert.equal(
      s.stats.sessions,
      2,
      "the dropped idle connection was replaced",
    );
    assert.deepEqual(
      s.messages.map((m) => /body (\S+)/.exec(m.raw)?.[1]),
      ["after-refusal", "after-drop"],
    );
  } finally {
    await p.close();
    await s.close();
  }
});

Deno.test("SmtpPool sends on a new connection when the idle one it took was closed by the server a moment before", async () => {
  const s = await server();
  const p = pool(s.port, 1);
  try {
    await p.send(envelope, raw("before"));
    s.dropAll();
    // The thread stalls (a loaded host) before the close is read: the send takes the dead session.
    const stalled = new Promise((r) => setTimeout(r, 20));
    const end = Date.now() + 100;
    while (Date.now() < end) {
      // busy: no event-loop turn, so the socket's end is not seen before the send starts
    }
    await stalled;
    await p.send(envelope, raw("after-race"));
    assert.equal(s.stats.sessions, 2, "the message went on a new session");
    assert.deepEqual(
      s.messages.map((m) => /body (\S+)/.exec(m.raw)?.[1]),
      ["before", "after-race"],
      "once each",
    );
  } finally {
    await p.close();
    await s.close();
  }
});

Deno.test("SmtpPool verifies the server's certificate on STARTTLS: a self-signed one fails, nothing is sent", async () => {
  // smtp-server offers STARTTLS with its built-in self-signed certificate.
  const s = await server({ disabledCommands: [] });
  const p = new SmtpPool({
    host: "127.0.0.1",
    port: s.port,
    secure: false,
    ignoreTLS: false,
    timeoutMs: 5000,
    connections: 1,
  });
  try {
    await assert.rejects(
      p.send(envelope, raw("tls")),
      (err: Error & { code?: string }) =>
        err.code === "ETLS" ||
        /certificate|self[- ]signed|UnknownIssuer/i.test(err.message),
    );
    assert.equal(s.messages.length, 0);
  } finally {
    await p.close();
    await s.close();
  }
});

Deno.test("SmtpPool fails sends waiting for a connection when closed, and refuses new ones", async () => {
  const s = await server();
  const p = pool(s.port, 1);
  await p.send(envelope, raw("before"));
  await p.close();
  await assert.rejects(p.send(envelope, raw("after")), /pool closed/);
  await s.close();
  assert.equal(s.messages.length, 1);
});

Deno.test("SmtpPool fails every waiting send when the server is down, none hangs", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close(); // nothing listens there now
  const p = pool(port, 1);
  try {
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => p.send(envelope, raw(`down${i}`))),
    );
    assert.deepEqual(results.map((r) => r.status), Array(5).fill("rejected"));
  } finally {
    await p.close();
  }
});

Deno.test("SmtpPool serves a waiting send when the server hangs up during the reset after a refusal", async () => {
  // A scripted relay: the first session refuses its message and hangs up on RSET; later ones accept.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let sessions = 0;
  const accepted: string[] = [];
  const serve = (async () => {
    for await (const conn of listener) {
      const first = ++sessions === 1;
      (async () => {
        const say = (line: string) =>
          conn.write(new TextEncoder().encode(line + "\r\n"));
        await say("220 relay ESMTP");
        const decoder = new TextDecoder();
        const buffer = new Uint8Array(65536);
        let text = "";
        let data = false;
        while (true) {
          const n = await conn.read(buffer).catch(() => null);
          if (n === null) break;
          text += decoder.decode(buffer.subarray(0, n));
          let at: number;
          while ((at = text.indexOf(data ? "\r\n.\r\n" : "\r\n")) >= 0) {
            const line = text.slice(0, at);
            text = text.slice(at + (data ? 5 : 2));
            if (data) {
              data = false;
              if (first) await say("450 4.2.1 Mailbox busy");
              else {
                accepted.push(/body (\S+)/.exec(line)?.[1] ?? "?");
                await say("250 2.0.0 Ok");
              }
            } else if (/^EHLO/i.test(line)) await say("250 relay");
            else if (/^DATA/i.test(line)) {
              data = true;
              await say("354 go on");
            } else if (/^RSET/i.test(line) && first) {
              conn.close(); // hangs up instead of answering
              return;
            } else if (/^QUIT/i.test(line)) {
              await say("221 bye");
              conn.close();
              return;
            } else await say("250 Ok");
          }
        }
        try {
          conn.close();
        } catch {
          // already closed
        }
      })();
    }
  })();
  const p = pool(port, 1);
  try {
    // One slot: b waits while a is refused and its connection is reset, and the relay hangs up there.
    const a = p.send(envelope, raw("a"));
    const b = p.send(envelope, raw("b"));
    await assert.rejects(
      a,
      (err: { responseCode?: number }) => err.responseCode === 450,
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      b,
      new Promise((_, reject) =>
        timer = setTimeout(() => reject(new Error("b was never sent")), 30_000)
      ),
    ]).finally(() => clearTimeout(timer));
    assert.deepEqual(accepted, ["b"]);
    assert.equal(sessions, 2);
  } finally {
    await p.close();
    listener.close();
    await serve.catch(() => {});
  }
});

Deno.test("SmtpPool sends text messages as UTF-8, dot-stuffed, with or without a final CRLF", async () => {
  const s = await server();
  const p = pool(s.port, 1);
  try {
    await p.send(
      envelope,
      "Message-ID: <t1@t>\r\nSubject: t\r\n\r\n.first\r\n..second\r\nbody t1 \u00e9\u2014\r\n",
    );
    await p.send(envelope, "Message-ID: <t2@t>\r\n\r\nbody t2\r\n.");
    assert.equal(s.messages.length, 2);
    const bytes = (m: string) =>
      new TextDecoder().decode(
        Uint8Array.from(m, (c) => c.charCodeAt(0)),
      );
    assert.match(
      bytes(s.messages[0]!.raw),
      /\r\n\r\n\.first\r\n\.\.second\r\nbody t1 \u00e9\u2014\r\n$/,
    );
    assert.match(s.messages[1]!.raw, /\r\n\r\nbody t2\r\n\.\r\n$/);
  } finally {
    await p.close();
    await s.close();
  }
});

Deno.test("SmtpPool times out a server that goes silent after the greeting (ETIMEDOUT)", async () => {
  // A relay that greets and answers EHLO, then never answers again.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const conns: Deno.Conn[] = [];
  const serve = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      (async () => {
        const say = (line: string) =>
          conn.write(new TextEncoder().encode(line + "\r\n"));
        await say("220 relay ESMTP");
        const buffer = new Uint8Array(4096);
        let text = "";
        while (true) {
          const n = await conn.read(buffer).catch(() => null);
          if (n === null) break;
          text += new TextDecoder().decode(buffer.subarray(0, n));
          if (/^EHLO[^\n]*\n/i.test(text)) {
            text = "";
            await say("250-relay\r\n250 PIPELINING");
          }
        }
      })();
    }
  })();
  const p = new SmtpPool({
    host: "127.0.0.1",
    port,
    secure: false,
    ignoreTLS: true,
    timeoutMs: 300,
    connections: 1,
  });
  try {
    await assert.rejects(
      p.send(envelope, raw("silent")),
      (err: { code?: string }) => err.code === "ETIMEDOUT",
    );
  } finally {
    await p.close();
    listener.close();
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // closed by the client
      }
    }
    await serve.catch(() => {});
  }
});

/** A throwaway CA and a certificate it signed for 127.0.0.1 (openssl), PEM. */
async function loopbackCertificate(): Promise<
  { key: string; cert: string; ca: string }
> {
  const dir = await Deno.makeTempDir();
  const openssl = async (...args: string[]) => {
    const { success, stderr } = await new Deno.Command("openssl", {
      args,
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(success, new TextDecoder().decode(stderr));
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  try {
    await openssl(
      "req",
      "-x509",
      ...ec,
      "-days",
      "1",
      "-subj",
      "/CN=Blitz test CA",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
    );
    await openssl(
      "req",
      ...ec,
      "-subj",
      "/CN=127.0.0.1",
      "-keyout",
      "key.pem",
      "-out",
      "leaf.csr",
    );
    await Deno.writeTextFile(`${dir}/ext.cnf`, "subjectAltName=IP:127.0.0.1\n");
    await openssl(
      "x509",
      "-req",
      "-in",
      "leaf.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      "ext.cnf",
      "-out",
      "cert.pem",
    );
    return {
      key: await Deno.readTextFile(`${dir}/key.pem`),
      cert: await Deno.readTextFile(`${dir}/cert.pem`),
      ca: await Deno.readTextFile(`${dir}/ca.pem`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("SmtpPool sends over STARTTLS and over implicit TLS to a server whose certificate it trusts", async () => {
  const { key, cert, ca } = await loopbackCertificate();
  for (const secure of [false, true]) {
    const logins: { user: string; pass: string; secure: boolean }[] = [];
    const s = await server({
      disabledCommands: [],
      key,
      cert,
      secure,
      onAuth(auth, session, callback) {
        logins.push({
          user: auth.username ?? "",
          pass: auth.password ?? "",
          secure: Boolean((session as { secure?: boolean }).secure),
        });
        callback(null, { user: auth.username });
      },
    });
    const p = new SmtpPool({
      host: "127.0.0.1",
      port: s.port,
      secure,
      ignoreTLS: false,
      requireTLS: !secure,
      auth: { user: "u", pass: "p" },
      timeoutMs: 5000,
      connections: 1,
      caCerts: [ca],
    });
    try {
      for (let i = 0; i < 2; i++) {
        assert.match(
          (await p.send(envelope, raw(`tls${i}`))).response,
          /^250/,
        );
      }
      assert.equal(s.messages.length, 2);
      assert.ok(s.messages.every((m) => m.secure), "sent over TLS");
      assert.equal(s.stats.sessions, 1);
      assert.deepEqual(logins, [{ user: "u", pass: "p", secure: true }]);
    } finally {
      await p.close();
      await s.close();
    }
  }
});
