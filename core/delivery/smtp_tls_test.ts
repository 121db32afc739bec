/**
 * SMTP with credentials requires TLS (issue 16 item 5): against a loopback server that offers AUTH but
 * no STARTTLS (as a man in the middle that strips it would), Blitz sends no AUTH and no credentials;
 * `?require_tls=0` is the explicit opt-out, and `check` warns about it.
 */
import assert from "node:assert/strict";
import { checkSmtpUrl, createDelivery, DeliveryError } from "./delivery.ts";
import { startSmtpServer } from "../../tests/_smtp.ts";

/** A loopback TCP relay to `port` that records every byte the client sends. */
function recordingRelay(port: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const sent: Uint8Array[] = [];
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const client of listener) {
      const server = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.push(client, server);
      const tap = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          sent.push(chunk.slice());
          controller.enqueue(chunk);
        },
      });
      client.readable.pipeThrough(tap).pipeTo(server.writable).catch(() => {});
      server.readable.pipeTo(client.writable).catch(() => {});
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    text: () =>
      new TextDecoder().decode(
        new Uint8Array(sent.flatMap((chunk) => [...chunk])),
      ),
    async close() {
      listener.close();
      await accepting.catch(() => {});
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // already closed by its pipe
        }
      }
    },
  };
}

const message = {
  from: "blitz@example.test",
  to: ["soc@example.test"],
  cc: [],
  subject: "TLS",
  html: "<p>x</p>",
  text: "x",
  messageId: "<tls-1@blitz.test>",
};

Deno.test("createDelivery() with credentials never sends AUTH to a server that offers no STARTTLS", async () => {
  const user = "relay-user";
  const pass = "relay-pass-" + crypto.randomUUID();
  const server = await startSmtpServer({ auth: { user, pass } });
  const relay = recordingRelay(server.port);
  const delivery = createDelivery({
    smtp: `smtp://${user}:${pass}@127.0.0.1:${relay.port}`,
    dataDir: "unused",
    timeoutMs: 5_000,
  });
  try {
    const err = await delivery.send(message).then(
      () => assert.fail("delivered without TLS"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof DeliveryError, String(err));
    assert.match(err.message, /TLS/i);
    assert.doesNotMatch(err.message, new RegExp(pass));
    assert.equal(server.authAttempts, 0, "AUTH reached the server");
    assert.equal(server.messages.length, 0);
    const wire = relay.text();
    assert.match(wire, /^EHLO /m, "the relay saw the session");
    assert.match(wire, /^STARTTLS/m, "Blitz asked for TLS");
    assert.doesNotMatch(wire, /^AUTH/im);
    assert.ok(!wire.includes(btoa(`\0${user}\0${pass}`)));
    assert.ok(!wire.includes(pass));
  } finally {
    await delivery.close();
    await relay.close();
    await server.close();
  }
});

Deno.test("createDelivery() with ?require_tls=0 logs in over plain SMTP, as asked", async () => {
  const user = "relay-user";
  const pass = "relay-pass-" + crypto.randomUUID();
  const server = await startSmtpServer({ auth: { user, pass } });
  const delivery = createDelivery({
    smtp: `smtp://${user}:${pass}@127.0.0.1:${server.port}?require_tls=0`,
    dataDir: "unused",
  });
  try {
    assert.equal((await delivery.send(message)).status, "sent");
    assert.equal(server.authAttempts, 1);
  } finally {
    await delivery.close();
    await server.close();
  }
});

Deno.test("checkSmtpUrl() warns about require_tls=0 and refuses ignore_tls=1 with credentials", () => {
  assert.deepEqual(checkSmtpUrl("smtp://u:p4ssw0rd@mail.example.test"), {});
  assert.deepEqual(checkSmtpUrl("smtps://u:p4ssw0rd@mail.example.test"), {});
  assert.deepEqual(checkSmtpUrl("smtp://mail.example.test?ignore_tls=1"), {});
  assert.match(
    checkSmtpUrl("smtp://u:p4ssw0rd@mail.example.test?require_tls=0").warning ??
      "",
    /credentials in clear/,
  );
  const refused = checkSmtpUrl(
    "smtp://u:p4ssw0rd@mail.example.test?ignore_tls=1",
  );
  assert.match(refused.problem ?? "", /add require_tls=0 to accept that/);
  assert.doesNotMatch(refused.problem ?? "", /p4ssw0rd/);
  assert.equal(
    checkSmtpUrl(
      "smtp://u:p4ssw0rd@mail.example.test?ignore_tls=1&require_tls=0",
    )
      .problem,
    undefined,
  );
});
