/**
 * Slack request signing: Slack's own published example (docs "Verifying requests from Slack") as a
 * fixed vector, the 5-minute window, and one flipped byte.
 */
import assert from "node:assert/strict";
import { slackSignature, slackSigner, slackTimestampFresh } from "./slack.ts";

// From https://api.slack.com/authentication/verifying-requests-from-slack
const SECRET = "8f742231b10e8888abcd99yyyzzz85a5";
const TIMESTAMP = "1531420618";
const BODY =
  "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const SIGNATURE =
  "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

Deno.test("slackSignature() reproduces Slack's published test vector", () => {
  assert.equal(slackSignature(SECRET, TIMESTAMP, BODY), SIGNATURE);
  const body = new TextEncoder().encode(BODY);
  assert.equal(
    slackSigner(["another-secret-value", SECRET], {
      timestamp: TIMESTAMP,
      signature: SIGNATURE,
      body,
    }),
    1,
  );
});

Deno.test("slackSigner() refuses one flipped body byte, another timestamp and a malformed header", () => {
  const body = new TextEncoder().encode(BODY);
  body[10]! ^= 0x01;
  assert.equal(
    slackSigner([SECRET], { timestamp: TIMESTAMP, signature: SIGNATURE, body }),
    -1,
  );
  const good = new TextEncoder().encode(BODY);
  for (
    const [timestamp, signature] of [
      ["1531420619", SIGNATURE],
      [TIMESTAMP, SIGNATURE.toUpperCase()],
      [TIMESTAMP, SIGNATURE.slice(0, -1)],
      [TIMESTAMP, ""],
    ]
  ) {
    assert.equal(
      slackSigner([SECRET], {
        timestamp: timestamp!,
        signature: signature!,
        body: good,
      }),
      -1,
    );
  }
});

Deno.test("slackTimestampFresh() allows 300 s either way and refuses 301 s", () => {
  const now = 1_531_420_618_000;
  assert.equal(slackTimestampFresh(TIMESTAMP, now), true);
  assert.equal(slackTimestampFresh(TIMESTAMP, now + 300_000), true);
  assert.equal(slackTimestampFresh(TIMESTAMP, now + 301_000), false);
  assert.equal(slackTimestampFresh(TIMESTAMP, now - 301_000), false);
  assert.equal(slackTimestampFresh(undefined, now), false);
  assert.equal(slackTimestampFresh("1e9", now), false);
});
