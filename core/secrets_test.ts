import assert from "node:assert/strict";
import {
  capText,
  publicError,
  redact,
  redactDeep,
  registerSecret,
  substituteEnv,
} from "./secrets.ts";

function collect(env: Record<string, string>) {
  const missing: [string, string][] = [];
  const options = {
    env: (name: string) => env[name],
    onMissing: (name: string, path: string) => missing.push([name, path]),
  };
  return { missing, options };
}

Deno.test("substituteEnv() replaces ${env:NAME} in every string, however deep", () => {
  const { missing, options } = collect({
    SMTP_USER: "relay-user-1",
    SMTP_PASS: "pa55-w0rd-subst",
    TOKEN: "tok-abcdef-123",
  });
  const out = substituteEnv({
    smtp: "smtp://${env:SMTP_USER}:${env:SMTP_PASS}@127.0.0.1:2525",
    plugins: {
      http_api: { headers: [{ Authorization: "Bearer ${env:TOKEN}" }] },
    },
    count: 3,
    on: true,
    none: null,
  }, options);
  assert.deepEqual(out, {
    smtp: "smtp://relay-user-1:pa55-w0rd-subst@127.0.0.1:2525",
    plugins: {
      http_api: { headers: [{ Authorization: "Bearer tok-abcdef-123" }] },
    },
    count: 3,
    on: true,
    none: null,
  });
  assert.deepEqual(missing, []);
});

Deno.test("substituteEnv() reports each missing variable with its path and leaves the reference", () => {
  const { missing, options } = collect({});
  const out = substituteEnv({
    a: { b: ["x", "${env:NOT_SET_1}"] },
    c: "${env:NOT_SET_2}-suffix",
  }, options);
  assert.deepEqual(missing, [["NOT_SET_1", "a.b[1]"], ["NOT_SET_2", "c"]]);
  assert.deepEqual(out, {
    a: { b: ["x", "${env:NOT_SET_1}"] },
    c: "${env:NOT_SET_2}-suffix",
  });
});

Deno.test("substituteEnv() leaves text that only looks like a reference", () => {
  const { missing, options } = collect({ A: "value-a" });
  assert.equal(
    substituteEnv("$env:A ${A} ${env:} ${env:1BAD} {env:A}", options),
    "$env:A ${A} ${env:} ${env:1BAD} {env:A}",
  );
  assert.deepEqual(missing, []);
});

Deno.test("substituteEnv() registers substituted values so redact() hides them", () => {
  const { options } = collect({ DB_PASSWORD: "hunter2-substituted-secret" });
  substituteEnv({ dsn: "${env:DB_PASSWORD}" }, options);
  assert.equal(
    redact("login failed for password hunter2-substituted-secret!"),
    "login failed for password [redacted]!",
  );
});

Deno.test("redact() hides registered secrets, longest first, and URL passwords", () => {
  registerSecret("abcd-secret");
  registerSecret("abcd-secret-longer");
  registerSecret("abc"); // shorter than 4 characters: ignored, it would redact ordinary words
  assert.equal(
    redact("x abcd-secret-longer y abcd-secret z"),
    "x [redacted] y [redacted] z",
  );
  assert.equal(redact("abc is fine"), "abc is fine");
  assert.equal(
    redact("connect smtp://relay:p%40ss@mail.example.test:587 failed"),
    "connect smtp://relay:[redacted]@mail.example.test:587 failed",
  );
  assert.equal(
    redact("mysql://root:toor@127.0.0.1/db"),
    "mysql://root:[redacted]@127.0.0.1/db",
  );
  assert.equal(
    redact("https://example.test/path?q=a:b@c"),
    "https://example.test/path?q=a:b@c",
    "no credentials: unchanged",
  );
});

Deno.test("redact() treats regex characters in secrets literally", () => {
  registerSecret("a+b(c)*[d]$");
  assert.equal(redact("key=a+b(c)*[d]$ end; aab"), "key=[redacted] end; aab");
});

Deno.test("redactDeep() redacts every string of a JSON-like value", () => {
  registerSecret("deep-secret-value");
  assert.deepEqual(
    redactDeep({
      a: ["deep-secret-value", 1, { b: "x deep-secret-value" }],
      n: null,
      ok: true,
    }),
    { a: ["[redacted]", 1, { b: "x [redacted]" }], n: null, ok: true },
  );
});

Deno.test("redact() hides derived forms: Basic header values with any user, base64 and base64url at any offset, percent-encoded, JSON-escaped", () => {
  const token = "tok/en+with spaces&é-" + crypto.randomUUID();
  registerSecret(token);
  const b64 = (text: string) =>
    btoa(String.fromCharCode(...new TextEncoder().encode(text)));
  const url = (text: string) =>
    b64(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  const cases = [
    `Authorization: Basic ${b64(`literal-user:${token}`)}`,
    `Authorization: Basic ${b64(`${token}:`)}`,
    `proxy said ${b64(`x${token}`)} and ${b64(`xy${token}`)}`,
    `jwt-ish ${url(`{"k":"${token}"}`)}.sig`,
    `GET /api?key=${encodeURIComponent(token)}&x=1`,
    `form key=${encodeURIComponent(token).replaceAll("%20", "+")}`,
    `lower ${
      encodeURIComponent(token).replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase())
    }`,
    `{"echo":${JSON.stringify(token)}}`,
  ];
  for (const text of cases) {
    const out = redact(text);
    assert.match(out, /\[redacted\]/, text);
    assert.ok(!out.includes(b64(token).slice(0, 12)), out);
    for (const form of [token, encodeURIComponent(token)]) {
      assert.ok(!out.includes(form), out);
    }
  }
  // Words and base64 that hold no secret are left alone.
  const plain = `delivered 0192abcd-ef Basic ${b64("someone:else-entirely")}`;
  assert.equal(redact(plain), plain);
});

Deno.test("redact() leaves an id alone unless a secret is in it, also once a secret could be base64 made of hex digits", () => {
  const id = "019ae0c4-5a1b-7c2d-8e3f-0123456789ab";
  assert.equal(redact(id), id);
  registerSecret("9ae0c4-5a1b"); // a secret written out in an id-shaped text is still hidden
  assert.equal(redact(id), "01[redacted]-7c2d-8e3f-0123456789ab");
  assert.equal(
    redact(`${id} again`),
    "01[redacted]-7c2d-8e3f-0123456789ab again",
  );
  // "b0d2d296e002" is the base64 of "oGvwoz{M6": a run of hex digits can hold such a secret.
  assert.equal(atob("b0d2d296e002"), "oGvwoz{M6");
  assert.equal(redact("b0d2d296e002"), "b0d2d296e002");
  registerSecret("oGvwoz{M6");
  assert.equal(redact("b0d2d296e002"), "[redacted]");
  assert.equal(redact("id b0d2d296e002-ab"), "id [redacted]");
  assert.equal(redact("0123456789abcdef"), "0123456789abcdef");
});

Deno.test("publicError() redacts first, then caps a remote message at 300 characters", () => {
  const secret = "cap-secret-" + crypto.randomUUID();
  registerSecret(secret);
  // The secret straddles the cut: capping first would keep its first half.
  const message = `${"a".repeat(290)}${secret}${"b".repeat(5_000)}`;
  const out = publicError(new Error(message + "\nsecond line"));
  assert.ok(out.length <= 300, `${out.length} characters`);
  assert.ok(!out.includes(secret.slice(0, 8)), out.slice(280));
  assert.ok(out.endsWith("…"));
  assert.equal(publicError(new Error("short")), "short");
  assert.equal(capText("😀".repeat(200), 300).length <= 300, true);
  assert.ok(!capText("a" + "😀".repeat(200), 300).includes("\ud83d…"));
});
