import assert from "node:assert/strict";
import {
  AuthError,
  IngestAuth,
  signBody,
  timingSafeEqual,
  timingSafeEqualText,
} from "./auth.ts";

const TOKENS = ["token-old-0123456789abcdef", "token-new-0123456789abcdef"];
const SECRET = "hmac-secret-0123456789";

/** An IngestAuth that checks signatures made with SECRET on a clock stopped at `now`, and a body to sign. */
function signing() {
  const now = 1_800_000_000_000;
  const auth = IngestAuth.create({
    tokens: TOKENS,
    hmacSecret: SECRET,
    now: () => now,
  });
  return { auth, now, body: new TextEncoder().encode('{"a":1}') };
}

Deno.test("IngestAuth.bearer() accepts every configured token and returns its index", () => {
  const auth = IngestAuth.create({ tokens: TOKENS });
  assert.equal(auth.bearer(`Bearer ${TOKENS[0]}`), 0);
  assert.equal(auth.bearer(`bearer  ${TOKENS[1]} `), 1);
});

Deno.test("IngestAuth.bearer() refuses missing, malformed and wrong credentials", () => {
  const auth = IngestAuth.create({ tokens: TOKENS });
  for (
    const header of [
      null,
      undefined,
      "",
      "Basic dXNlcjpwYXNz",
      "Bearer",
      `Bearer ${TOKENS[0]}x`,
      `Bearer ${TOKENS[0]!.slice(1)}`,
      `Bearer ${TOKENS[0]}${TOKENS[0]}`,
      `Bearer ${TOKENS[0]!.slice(0, -1)}F`,
      `${TOKENS[0]}`,
    ]
  ) {
    assert.throws(() => auth.bearer(header), AuthError, String(header));
  }
});

Deno.test("IngestAuth.bearer() error messages never contain the presented token", () => {
  const auth = IngestAuth.create({ tokens: TOKENS });
  const wrong = "wrong-token-that-must-not-echo";
  assert.throws(
    () => auth.bearer(`Bearer ${wrong}`),
    (err: Error) => !err.message.includes(wrong),
  );
});

Deno.test("IngestAuth with no tokens refuses everyone", () => {
  const auth = IngestAuth.create({ tokens: [] });
  assert.throws(() => auth.bearer("Bearer anything-at-all-here"), AuthError);
});

Deno.test("IngestAuth.verifySignature() accepts a fresh signature over timestamp.body", () => {
  const { auth, now, body } = signing();
  const ts = String(now / 1000 - 299);
  const signature = signBody(SECRET, ts, body);
  assert.equal(auth.verifySignature({ timestamp: ts, signature }, body), true);
  assert.equal(
    auth.verifySignature({
      timestamp: ts,
      signature: `sha256=${signature.toUpperCase()}`,
    }, body),
    true,
  );
});

Deno.test("IngestAuth.verifySignature() makes signatures mandatory once a secret is configured", () => {
  const { auth, body } = signing();
  assert.throws(
    () => auth.verifySignature({}, body),
    (err: unknown) =>
      err instanceof AuthError &&
      /Missing signature: this server requires signed requests/.test(
        err.message,
      ),
  );
  assert.throws(
    () => auth.verifySignature({ timestamp: "", signature: "" }, body),
    AuthError,
  );
  const open = IngestAuth.create({ tokens: ["t"] });
  assert.equal(
    open.verifySignature({}, body),
    false,
    "without a secret an unsigned request passes to the bearer check alone",
  );
});

Deno.test("IngestAuth.verifySignature() refuses stale, future, changed and malformed signatures", () => {
  const { auth, now, body } = signing();
  const sign = (ts: number, b: Uint8Array | string = body) => ({
    timestamp: String(ts),
    signature: signBody(SECRET, ts, b),
  });
  const t = now / 1000;
  assert.throws(
    () => auth.verifySignature(sign(t - 301), body),
    /more than 300 s/,
  );
  assert.throws(
    () => auth.verifySignature(sign(t + 301), body),
    /more than 300 s/,
  );
  assert.throws(
    () => auth.verifySignature(sign(t), new TextEncoder().encode('{"a":2}')),
    /Invalid X-Blitz-Signature/,
  );
  const good = sign(t);
  assert.throws(
    () => auth.verifySignature({ ...good, timestamp: String(t - 1) }, body),
    /Invalid X-Blitz-Signature/,
  );
  assert.throws(
    () =>
      auth.verifySignature({
        timestamp: good.timestamp,
        signature: good.signature.slice(2),
      }, body),
    /64 hex/,
  );
  assert.throws(
    () =>
      auth.verifySignature(
        { timestamp: "soon", signature: good.signature },
        body,
      ),
    /whole seconds/,
  );
  assert.throws(
    () => auth.verifySignature({ signature: good.signature }, body),
    /needs an X-Blitz-Timestamp/,
  );
  assert.throws(
    () => auth.verifySignature({ timestamp: good.timestamp }, body),
    /needs an X-Blitz-Signature/,
  );
  const other = {
    timestamp: String(t),
    signature: signBody("another-secret-0123456", t, body),
  };
  assert.throws(
    () => auth.verifySignature(other, body),
    /Invalid X-Blitz-Signature/,
  );
});

Deno.test("IngestAuth.verifySignature() refuses a signed request when no secret is configured", () => {
  const auth = IngestAuth.create({ tokens: TOKENS });
  const body = new TextEncoder().encode("{}");
  const ts = Math.floor(Date.now() / 1000);
  assert.throws(
    () =>
      auth.verifySignature({
        timestamp: String(ts),
        signature: signBody(SECRET, ts, body),
      }, body),
    /no ingest_hmac_secret/,
  );
});

Deno.test("timingSafeEqual() compares bytes", () => {
  assert.equal(
    timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])),
    true,
  );
  assert.equal(
    timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])),
    false,
  );
  assert.equal(
    timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3])),
    false,
  );
});

Deno.test("timingSafeEqualText() is true for the same text only", () => {
  const secret = "token-0123456789abcdef";
  assert.equal(timingSafeEqualText(secret, secret), true);
  assert.equal(timingSafeEqualText(`${secret}`.slice(0), secret), true);
  for (
    const given of [
      "",
      secret.slice(0, -1),
      `${secret}x`,
      secret + secret, // the secret's units are cycled: the length still differs
      `${secret.slice(0, -1)}F`,
      `X${secret.slice(1)}`,
      secret.toUpperCase(),
      `${secret.slice(0, 5)}\u00e9${secret.slice(6)}`,
    ]
  ) {
    assert.equal(timingSafeEqualText(given, secret), false, given);
  }
  assert.equal(timingSafeEqualText("", ""), true);
  assert.equal(timingSafeEqualText("a", ""), false);
  assert.equal(timingSafeEqualText("gr\u00fc\u00df", "gr\u00fc\u00df"), true);
});
