import assert from "node:assert/strict";
import {
  type ActionKey,
  ActionTokenError,
  buttonTagMatches,
  signActionToken,
  type TokenClaims,
  verifyActionToken,
} from "./tokens.ts";
import { decodeToken, encodeToken } from "../../tests/_tokens.ts";

const oldKey: ActionKey = { id: "old", secret: "old-secret-0123456789abcdef" };
const newKey: ActionKey = { id: "new", secret: "new-secret-0123456789abcdef" };
const alertX = "0190f1e2-7a3b-7c4d-8e5f-6a7b8c9d0e1f";
const alertY = "0190f1e2-7a3b-7c4d-8e5f-6a7b8c9d0e20";
const expiresAt = Date.UTC(2030, 0, 1, 12, 0, 0);
const now = Date.UTC(2029, 11, 31);

function sign(
  overrides: Partial<{ alertId: string; button: number; buttonLabel: string }> =
    {},
  key = newKey,
) {
  return signActionToken({
    alertId: alertX,
    button: 2,
    buttonLabel: "Block IP",
    expiresAt,
    ...overrides,
  }, key);
}

async function rejection(
  promise: Promise<TokenClaims>,
): Promise<ActionTokenError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(
      err instanceof ActionTokenError,
      `expected ActionTokenError, got ${err}`,
    );
    return err;
  }
  assert.fail("token was accepted");
}

Deno.test("signActionToken() round-trips through verifyActionToken()", async () => {
  const token = await sign();
  const claims = await verifyActionToken(token, [newKey], { now });
  assert.equal(claims.v, 1);
  assert.equal(claims.kid, "new");
  assert.equal(claims.alertId, alertX);
  assert.equal(claims.button, 2);
  assert.equal(claims.expiresAt, expiresAt);
  assert.match(claims.nonce, /^[A-Za-z0-9_-]{22}$/);
  assert.equal(await buttonTagMatches(claims, "Block IP"), true);
  assert.equal(await buttonTagMatches(claims, "Open ticket"), false);
});

Deno.test("signActionToken() makes short tokens with a fresh nonce each time", async () => {
  const a = await sign();
  const b = await sign();
  console.log(`token length (UUID alert id, key id "new"): ${a.length} chars`);
  assert.ok(a.length < 150, `token is ${a.length} chars`);
  assert.match(a, /^[A-Za-z0-9_-]+$/);
  assert.notEqual(a, b);
  const [ca, cb] = [
    await verifyActionToken(a, [newKey], { now }),
    await verifyActionToken(b, [newKey], { now }),
  ];
  assert.notEqual(ca.nonce, cb.nonce);
});

Deno.test("signActionToken() keeps non-UUID and uppercase alert ids exactly", async () => {
  for (
    const alertId of [
      "alert-42",
      "0190F1E2-7A3B-7C4D-8E5F-6A7B8C9D0E1F",
      "ünïcode id",
      "",
    ]
  ) {
    const claims = await verifyActionToken(await sign({ alertId }), [newKey], {
      now,
    });
    assert.equal(claims.alertId, alertId);
  }
});

Deno.test("signActionToken() rejects out-of-range input", async () => {
  await assert.rejects(sign({ button: 256 }), RangeError);
  await assert.rejects(sign({ button: 1.5 }), RangeError);
  await assert.rejects(
    signActionToken({
      alertId: alertX,
      button: 0,
      buttonLabel: "x",
      expiresAt: -1000,
    }, newKey),
    RangeError,
  );
  await assert.rejects(
    sign({}, { id: "", secret: "x".repeat(16) }),
    RangeError,
  );
});

Deno.test("verifyActionToken() rejects a token with any single byte flipped", async () => {
  const token = await sign();
  const bytes = decodeToken(token);
  assert.equal(encodeToken(bytes), token);
  for (let i = 0; i < bytes.length; i++) {
    for (const mask of [0x01, 0x80, 0xff]) {
      const tampered = bytes.slice();
      tampered[i]! ^= mask;
      const err = await rejection(
        verifyActionToken(encodeToken(tampered), [newKey, oldKey], { now }),
      );
      assert.ok(
        ["malformed", "bad_signature", "unknown_key", "expired"].includes(
          err.code,
        ),
        `byte ${i}: ${err.code}`,
      );
    }
  }
});

Deno.test("verifyActionToken() binds the alert id and the button", async () => {
  const forX = await verifyActionToken(await sign({ alertId: alertX }), [
    newKey,
  ], { now });
  assert.equal(forX.alertId, alertX);
  assert.notEqual(forX.alertId, alertY);
  const forY = await verifyActionToken(await sign({ alertId: alertY }), [
    newKey,
  ], { now });
  assert.equal(forY.alertId, alertY);

  const b0 = await verifyActionToken(
    await sign({ button: 0, buttonLabel: "Block IP" }),
    [newKey],
    { now },
  );
  const b1 = await verifyActionToken(
    await sign({ button: 1, buttonLabel: "Open ticket" }),
    [newKey],
    { now },
  );
  assert.equal(b0.button, 0);
  assert.equal(b1.button, 1);
  assert.notEqual(b0.buttonTag, b1.buttonTag);
  assert.equal(await buttonTagMatches(b1, "Block IP"), false);

  // Splicing the payload of X with the MAC of Y must fail.
  const x = decodeToken(await sign({ alertId: alertX }));
  const y = decodeToken(await sign({ alertId: alertY }));
  const spliced = new Uint8Array([
    ...y.subarray(0, y.length - 32),
    ...x.subarray(x.length - 32),
  ]);
  assert.equal(
    (await rejection(
      verifyActionToken(encodeToken(spliced), [newKey], { now }),
    ))
      .code,
    "bad_signature",
  );
});

Deno.test("verifyActionToken() checks expiry first with an injected clock", async () => {
  const token = await sign();
  assert.equal(
    (await verifyActionToken(token, [newKey], { now: expiresAt - 1000 }))
      .alertId,
    alertX,
  );
  const err = await rejection(
    verifyActionToken(token, [newKey], { now: expiresAt + 1000 }),
  );
  assert.equal(err.code, "expired");
  assert.equal(err.name, "ActionTokenError");
  assert.equal(err.claims?.alertId, alertX);
  assert.equal(err.claims?.expiresAt, expiresAt);
  // Expiry is checked before the key: an expired token from a retired key still says "expired".
  assert.equal(
    (await rejection(verifyActionToken(token, [], { now: expiresAt + 1000 })))
      .code,
    "expired",
  );
});

Deno.test("verifyActionToken() accepts the previous key during rotation only", async () => {
  const token = await sign({}, oldKey);
  assert.equal(
    (await verifyActionToken(token, [newKey, oldKey], { now })).kid,
    "old",
  );
  assert.equal(
    (await rejection(verifyActionToken(token, [newKey], { now }))).code,
    "unknown_key",
  );
});

Deno.test("verifyActionToken() rejects an unknown key id and a wrong secret", async () => {
  const token = await sign({}, {
    id: "rogue",
    secret: "rogue-secret-0123456789",
  });
  assert.equal(
    (await rejection(verifyActionToken(token, [newKey, oldKey], { now }))).code,
    "unknown_key",
  );
  const impostor = await sign({}, {
    id: "new",
    secret: "not-the-real-secret-000",
  });
  assert.equal(
    (await rejection(verifyActionToken(impostor, [newKey], { now }))).code,
    "bad_signature",
  );
});

Deno.test("verifyActionToken() reports malformed input as malformed", async () => {
  const token = await sign();
  const bytes = decodeToken(token);
  const cases = [
    "",
    "!!!!",
    "abc",
    `${token}=`,
    `${token}A`,
    token.slice(0, -1),
    token.slice(0, 20),
    encodeToken(new Uint8Array([...bytes, 0])),
    encodeToken(new Uint8Array([2, ...bytes.subarray(1)])),
    "x".repeat(10_000),
    undefined as unknown as string,
  ];
  for (const input of cases) {
    const err = await rejection(verifyActionToken(input, [newKey], { now }));
    assert.equal(err.code, "malformed", `input ${String(input).slice(0, 40)}`);
  }
});
