import assert from "node:assert/strict";
import { join } from "node:path";
import { Buffer } from "node:buffer";
import { SMTPServer } from "smtp-server";
import { simpleParser } from "mailparser";
import type { AddressObject, ParsedMail } from "mailparser";
import {
  buildRawMessage,
  createDelivery,
  type Delivery,
  DeliveryError,
  type OutgoingMessage,
} from "./delivery.ts";
import { checkAddress, headerSafe } from "../headers.ts";
import { startSmtpServer, type TestSmtpServer } from "../../tests/_smtp.ts";

function message(overrides: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return {
    from: "Blitz Alerts <blitz@example.test>",
    to: ["soc@example.test"],
    cc: [],
    subject: "Brute force on host-7",
    html: "<p>Failed logins: <b>42</b></p>",
    text: "Failed logins: 42",
    messageId: "<alert-1@blitz.test>",
    headers: {
      "X-Blitz-Alert-Id": "alert-1",
      "X-Blitz-Detector": "brute_force",
    },
    ...overrides,
  };
}

function addresses(
  field: AddressObject | AddressObject[] | undefined,
): string[] {
  const list = field === undefined
    ? []
    : Array.isArray(field)
    ? field
    : [field];
  return list.flatMap((group) =>
    group.value.map((entry) => entry.address ?? "")
  );
}

function headerBlock(raw: string): string {
  return raw.slice(0, raw.indexOf("\r\n\r\n"));
}

async function deliveryError(
  promise: Promise<unknown>,
): Promise<DeliveryError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(
      err instanceof DeliveryError,
      `expected a DeliveryError, got ${err}`,
    );
    return err;
  }
  assert.fail("expected the send to fail");
}

/** Runs `fn` with a delivery to a fresh loopback SMTP server, then closes both. */
async function withSmtp(
  fn: (delivery: Delivery, server: TestSmtpServer) => Promise<void>,
  options: Parameters<typeof startSmtpServer>[0] = {},
): Promise<void> {
  const server = await startSmtpServer(options);
  const delivery = createDelivery({ smtp: server.url, dataDir: "unused" });
  try {
    await fn(delivery, server);
  } finally {
    await delivery.close();
    await server.close();
  }
}

function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

Deno.test("headerSafe() strips control characters and collapses whitespace", () => {
  assert.equal(headerSafe("  a\r\nBcc: x@evil.test  "), "a Bcc: x@evil.test");
  assert.equal(
    headerSafe("a\u0000b\tc\u007fd\u0085e\u2028f\u2029g"),
    "a b c d e f g",
  );
  assert.equal(headerSafe("Ünïcode   stays"), "Ünïcode stays");
});

Deno.test("checkAddress() accepts one address and rejects injection", () => {
  assert.equal(checkAddress(" soc@example.test "), "soc@example.test");
  assert.equal(
    checkAddress("SOC Team <soc@example.test>"),
    "SOC Team <soc@example.test>",
  );
  assert.equal(
    checkAddress('"Team SOC" <soc@example.test>'),
    '"Team SOC" <soc@example.test>',
  );
  assert.equal(
    checkAddress('"Doe, Jane" <jane@example.test>'),
    '"Doe, Jane" <jane@example.test>',
    "a comma inside a quoted display name is one address",
  );
  assert.equal(
    checkAddress('"He said \\"hi\\"" <a@example.test>'),
    '"He said \\"hi\\"" <a@example.test>',
  );
  for (
    const bad of [
      "PRIMARY_RECIPIENT",
      "Doe, Jane <jane@example.test>",
      "Name <a@example.test> (comment)",
      "soc@example.test\r\nBcc: x@evil.test",
      "SOC\n <soc@example.test>",
      "soc@example.test\u2028",
      "a@example.test, b@example.test",
      "a@example.test; b@example.test",
      "no-at-sign",
      "Name <no-at-sign>",
      "two words@example.test",
      "Name <a@example.test> <b@example.test>",
      '"Unbalanced <a@example.test>',
    ]
  ) {
    assert.throws(() => checkAddress(bad), TypeError, JSON.stringify(bad));
  }
});

Deno.test("createDelivery() delivers html and text over SMTP with the given headers", async () => {
  await withSmtp(async (delivery, server) => {
    const result = await delivery.send(message({
      to: ["soc@example.test", "Lead <Lead@Example.test>"],
      cc: [
        "lead@example.test",
        "audit@example.test",
        "SOC@example.test",
        "audit@example.test",
      ],
    }));
    assert.equal(result.status, "sent");
    assert.equal(result.messageId, "<alert-1@blitz.test>");
    assert.match(result.response ?? "", /^250/);

    const [mail] = await server.waitFor(1);
    assert.ok(mail);
    assert.equal(mail.envelope.from, "blitz@example.test");
    // Headers keep addresses as given; nodemailer lower-cases the envelope's domains.
    assert.deepEqual(mail.envelope.to, [
      "soc@example.test",
      "Lead@example.test",
      "audit@example.test",
    ]);
    const parsed = mail.parsed;
    assert.equal(parsed.messageId, "<alert-1@blitz.test>");
    assert.equal(parsed.subject, "Brute force on host-7");
    assert.equal(parsed.from?.value[0]?.address, "blitz@example.test");
    assert.equal(parsed.from?.value[0]?.name, "Blitz Alerts");
    assert.deepEqual(addresses(parsed.to), [
      "soc@example.test",
      "Lead@Example.test",
    ]);
    assert.deepEqual(addresses(parsed.cc), ["audit@example.test"]);
    assert.equal(parsed.html, "<p>Failed logins: <b>42</b></p>");
    assert.equal(parsed.text?.trim(), "Failed logins: 42");
    assert.ok(
      parsed.date instanceof Date && !Number.isNaN(parsed.date.getTime()),
    );
    assert.equal(parsed.headers.get("auto-submitted"), "auto-generated");
    assert.equal(parsed.headers.get("x-blitz-alert-id"), "alert-1");
    assert.equal(parsed.headers.get("x-blitz-detector"), "brute_force");
    assert.match(
      headerBlock(mail.raw),
      /^Content-Type: multipart\/alternative/m,
    );
  });
});

Deno.test("createDelivery() keeps header injection out of the SMTP message", async () => {
  await withSmtp(async (delivery, server) => {
    await delivery.send(message({
      subject: "a\r\nBcc: x@evil.test",
      headers: {
        "X-Blitz-Detector": "d\r\nBcc: y@evil.test\u2028Cc: z@evil.test",
      },
    }));
    const [mail] = await server.waitFor(1);
    assert.ok(mail);
    const headers = headerBlock(mail.raw);
    assert.equal(headers.match(/^Subject:/gim)?.length, 1);
    assert.doesNotMatch(headers, /^Bcc:/im);
    assert.doesNotMatch(headers, /^Cc:/im);
    assert.deepEqual(mail.envelope.to, ["soc@example.test"]);
    assert.equal(mail.parsed.subject, "a Bcc: x@evil.test");
    assert.equal(
      mail.parsed.headers.get("x-blitz-detector"),
      "d Bcc: y@evil.test Cc: z@evil.test",
    );
    assert.equal(mail.parsed.bcc, undefined);
  });
});

Deno.test("createDelivery() rejects bad recipients before sending anything", async () => {
  await withSmtp(async (delivery, server) => {
    const bad: Partial<OutgoingMessage>[] = [
      { to: ["soc@example.test\r\nBcc: x@evil.test"] },
      { cc: ["audit@example.test\nRCPT TO:<x@evil.test>"] },
      { from: "Blitz\r\nBcc: x@evil.test <blitz@example.test>" },
      { to: ["soc@example.test, x@evil.test"] },
      { headers: { "Bcc": "x@evil.test" } },
      { headers: { "X-Bad\r\nBcc": "x@evil.test" } },
      { messageId: "<alert-1@blitz.test>\r\nBcc: x@evil.test" },
    ];
    for (const overrides of bad) {
      const err = await deliveryError(
        delivery.send(message({ messageId: "<bad@blitz.test>", ...overrides })),
      );
      assert.equal(err.transient, false);
      assert.ok(err.cause instanceof TypeError, String(err.cause));
    }
    const noRecipients = await deliveryError(
      delivery.send(message({ to: [], cc: [] })),
    );
    assert.equal(noRecipients.transient, false);
    assert.match(noRecipients.message, /No recipients/);

    // The server sees only the good message that follows.
    await delivery.send(message({ messageId: "<good@blitz.test>" }));
    await server.waitFor(1);
    assert.equal(server.messages.length, 1);
    assert.equal(server.messages[0]?.parsed.messageId, "<good@blitz.test>");
    assert.deepEqual(server.messages[0]?.envelope.to, ["soc@example.test"]);
  });
});

Deno.test("createDelivery() threads follow-ups with In-Reply-To and References", async () => {
  await withSmtp(async (delivery, server) => {
    await delivery.send(message({
      messageId: "<alert-1.followup-1@blitz.test>",
      subject: "Re: Brute force on host-7",
      inReplyTo: "<alert-1@blitz.test>",
      references: ["<alert-0@blitz.test>", "<alert-1@blitz.test>"],
    }));
    const [mail] = await server.waitFor(1);
    assert.ok(mail);
    assert.equal(mail.parsed.messageId, "<alert-1.followup-1@blitz.test>");
    assert.equal(mail.parsed.inReplyTo, "<alert-1@blitz.test>");
    assert.deepEqual(mail.parsed.references, [
      "<alert-0@blitz.test>",
      "<alert-1@blitz.test>",
    ]);
  });
});

Deno.test("createDelivery() reports an unreachable server as transient without the password", async () => {
  const port = closedPort();
  const delivery = createDelivery({
    smtp: `smtp://user:s3cretpass@127.0.0.1:${port}`,
    dataDir: "unused",
  });
  try {
    const err = await deliveryError(delivery.send(message()));
    assert.equal(err.transient, true);
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.doesNotMatch(err.message, /s3cretpass/);
    // The whole error as a log line would print it, cause included.
    assert.doesNotMatch(Deno.inspect(err, { depth: 10 }), /s3cretpass/);
    assert.doesNotMatch(String(err.cause), /s3cretpass/);
  } finally {
    await delivery.close();
  }
});

Deno.test("createDelivery() gives up on a silent server after timeoutMs, as transient", async () => {
  // Accepts TCP connections but never sends the SMTP greeting.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) connections.push(conn);
  })();
  const delivery = createDelivery({
    smtp: `smtp://127.0.0.1:${listener.addr.port}`,
    dataDir: "unused",
    timeoutMs: 200,
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const err = await Promise.race([
      deliveryError(delivery.send(message())),
      new Promise<never>((_, reject) =>
        timer = setTimeout(
          () => reject(new Error("timeoutMs not applied")),
          10_000,
        )
      ),
    ]);
    assert.equal(err.transient, true);
  } finally {
    clearTimeout(timer);
    await delivery.close();
    listener.close();
    await accepting;
    for (const conn of connections) conn.close();
  }
});

Deno.test("createDelivery() rejects a bad SMTP URL without printing the password", () => {
  for (
    const url of [
      "smtp://user:s3cretpass@",
      "smtp://user:s3cretpass@127.0.0.1:25?tls=off",
      "smtp://user:%E0%A4%A@host",
      "smtp://user:s3cret/pass@127.0.0.1:25",
      "http://user:s3cretpass@127.0.0.1:25",
    ]
  ) {
    assert.throws(
      () => createDelivery({ smtp: url, dataDir: "unused" }),
      (err: unknown) => {
        assert.ok(err instanceof TypeError);
        assert.doesNotMatch(err.message, /s3cret|%E0%A4%A/);
        return true;
      },
    );
  }
});

Deno.test("createDelivery() reports a 451 as transient and delivers on the next try", async () => {
  await withSmtp(async (delivery, server) => {
    const err = await deliveryError(delivery.send(message()));
    assert.equal(err.transient, true);
    assert.match(err.message, /451/);
    assert.equal(server.messages.length, 0);

    const result = await delivery.send(message());
    assert.equal(result.status, "sent");
    const [mail] = await server.waitFor(1);
    assert.equal(mail?.parsed.messageId, "<alert-1@blitz.test>");
  }, { failFirst: 1 });
});

Deno.test("createDelivery() authenticates with URL-decoded credentials", async () => {
  const server = await startSmtpServer({
    auth: { user: "blitz@example.test", pass: "p@ss word:1" },
  });
  const good = createDelivery({
    smtp:
      `smtp://blitz%40example.test:p%40ss%20word%3A1@127.0.0.1:${server.port}?ignore_tls=1&require_tls=0`,
    dataDir: "unused",
  });
  const bad = createDelivery({
    smtp:
      `smtp://blitz%40example.test:badpass123@127.0.0.1:${server.port}?require_tls=0`,
    dataDir: "unused",
  });
  try {
    const err = await deliveryError(
      bad.send(message({ messageId: "<bad@blitz.test>" })),
    );
    assert.equal(err.transient, false);
    assert.doesNotMatch(Deno.inspect(err, { depth: 10 }), /badpass123/);

    await good.send(message());
    const [mail] = await server.waitFor(1);
    assert.equal(mail?.parsed.messageId, "<alert-1@blitz.test>");
    assert.equal(server.messages.length, 1);
  } finally {
    await good.close();
    await bad.close();
    await server.close();
  }
});

Deno.test("createDelivery() writes the outbox atomically as a parseable .eml", async () => {
  const dataDir = await Deno.makeTempDir();
  const delivery = createDelivery({ dataDir });
  try {
    const result = await delivery.send(message({
      messageId: "<alert/../1+x@blitz.test>",
      cc: ["audit@example.test"],
      subject: "Brute force\r\nBcc: x@evil.test",
      inReplyTo: "<alert-0@blitz.test>",
      references: ["<alert-0@blitz.test>"],
    }));
    assert.equal(result.status, "outbox");
    assert.equal(result.messageId, "<alert/../1+x@blitz.test>");
    assert.equal(result.path, join(dataDir, "outbox", "alert_.._1_x.eml"));

    const names = [];
    for await (const entry of Deno.readDir(join(dataDir, "outbox"))) {
      names.push(entry.name);
    }
    assert.deepEqual(names, ["alert_.._1_x.eml"]);

    const raw = await Deno.readFile(result.path);
    const parsed: ParsedMail = await simpleParser(Buffer.from(raw));
    assert.equal(parsed.messageId, "<alert/../1+x@blitz.test>");
    assert.equal(parsed.subject, "Brute force Bcc: x@evil.test");
    assert.equal(parsed.from?.value[0]?.address, "blitz@example.test");
    assert.deepEqual(addresses(parsed.to), ["soc@example.test"]);
    assert.deepEqual(addresses(parsed.cc), ["audit@example.test"]);
    assert.equal(parsed.inReplyTo, "<alert-0@blitz.test>");
    assert.equal(parsed.references, "<alert-0@blitz.test>");
    assert.equal(parsed.headers.get("auto-submitted"), "auto-generated");
    assert.equal(parsed.headers.get("x-blitz-alert-id"), "alert-1");
    assert.equal(parsed.html, "<p>Failed logins: <b>42</b></p>");
    assert.equal(parsed.text?.trim(), "Failed logins: 42");
    assert.doesNotMatch(headerBlock(new TextDecoder().decode(raw)), /^Bcc:/im);
  } finally {
    await delivery.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("buildRawMessage() builds a CRLF message with the given Message-ID", async () => {
  const raw = new TextDecoder().decode(await buildRawMessage(message()));
  const headers = headerBlock(raw);
  assert.match(headers, /^Message-ID: <alert-1@blitz\.test>\r$/m);
  assert.match(headers, /^Date: /m);
  assert.doesNotMatch(raw, /[^\r]\n/);
  await assert.rejects(
    buildRawMessage(message({ to: ["x@evil.test\r\nBcc: y@evil.test"] })),
    TypeError,
  );
});

Deno.test("Delivery.close() closes the pooled SMTP connections", async () => {
  let opened = 0;
  let closed = 0;
  const { promise: allClosed, resolve } = Promise.withResolvers<void>();
  const server = new SMTPServer({
    name: "localhost",
    logger: false,
    closeTimeout: 1000,
    disableReverseLookup: true,
    disabledCommands: ["STARTTLS"],
    authOptional: true,
    onConnect(_session, callback) {
      opened++;
      callback();
    },
    onClose() {
      closed++;
      if (closed === opened) resolve();
    },
    onData(stream, _session, callback) {
      stream.on("data", () => {});
      stream.on("end", () => callback());
    },
  });
  const { promise: listening, resolve: ready } = Promise.withResolvers<void>();
  server.listen(0, "127.0.0.1", ready);
  await listening;
  const address = server.server.address();
  assert.ok(address !== null && typeof address === "object");
  const delivery = createDelivery({
    smtp: `smtp://127.0.0.1:${address.port}`,
    dataDir: "unused",
  });
  try {
    await delivery.send(message({ messageId: "<alert-1@blitz.test>" }));
    await delivery.send(message({ messageId: "<alert-2@blitz.test>" }));
    assert.equal(opened, 1, "the second message reuses the pooled connection");
    assert.equal(
      closed,
      0,
      "the pool keeps its connections open between messages",
    );

    await delivery.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      allClosed,
      new Promise((_, reject) =>
        timer = setTimeout(() => reject(new Error("Pool not closed")), 30_000)
      ),
    ]).finally(() => clearTimeout(timer));
    assert.equal(closed, opened);

    const err = await deliveryError(delivery.send(message()));
    assert.equal(err.transient, false);
  } finally {
    await delivery.close();
    await new Promise<void>((done) => server.close(() => done()));
  }
});
