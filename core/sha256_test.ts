/** sha256Hex against FIPS 180-4's examples and WebCrypto, at every padding boundary and for non-ASCII text. */
import assert from "node:assert/strict";
import { sha256Hex } from "./sha256.ts";

async function webCrypto(text: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

Deno.test("sha256Hex gives FIPS 180-4's digests", () => {
  assert.equal(
    sha256Hex(""),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  assert.equal(
    sha256Hex("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
});

Deno.test("sha256Hex equals WebCrypto for every length around the block and padding edges, and for UTF-8", async () => {
  for (let n = 0; n <= 200; n++) {
    const text = Array.from(
      { length: n },
      (_, i) => String.fromCharCode(33 + (i * 7) % 90),
    )
      .join("");
    assert.equal(sha256Hex(text), await webCrypto(text), `length ${n}`);
  }
  for (
    const text of [
      '["ids","1a2b3c4d5e6f",["\\"198.51.100.7\\"","\\u0000"]]',
      "Grüße aus Köln · 東京 · 😀",
      "\u0000\uffff",
      "x".repeat(10_000),
    ]
  ) assert.equal(sha256Hex(text), await webCrypto(text));
});
