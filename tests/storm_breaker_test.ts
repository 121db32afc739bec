/**
 * The storm breaker (issue 11): above `storm_breaker` emails an hour for one detector, one "storm
 * mode on" notice, digests every 15 minutes, and one "storm mode off" notice when the rate is back
 * under; a real SMTP server on loopback, the injected clock, the timers run as serve runs them.
 */
import assert from "node:assert/strict";
import { stormHarness } from "./_storm.ts";

const MIN = 60_000;

Deno.test("storm breaker: on notice, 15-minute digests, off notice; every alert stored and counted", async () => {
  await using h = await stormHarness(
    { plain: { subject: "Plain {n}", enrichments: [] } },
    { storm_breaker: "5/h" },
  );
  const sent = [];
  for (let n = 1; n <= 5; n++) sent.push((await h.ingest({ n })).sent);
  assert.deepEqual(sent, [true, true, true, true, true]);
  const tripped = await h.ingest({ n: 6 });
  assert.equal(tripped.suppressed_by, "breaker");
  for (let n = 7; n <= 10; n++) {
    h.advance(MIN);
    assert.equal((await h.ingest({ n })).suppressed_by, "breaker");
  }
  let mails = await h.smtp.waitFor(6);
  assert.equal(
    mails[5]!.parsed.subject,
    "plain: storm mode on (6/h, over 5/h): digests every 15 minutes",
  );
  assert.match(h.metrics.render(), /blitz_storm_mode\{detector="plain"\} 1/);

  h.advance(11 * MIN); // 10:17, 15 minutes after storm mode began
  assert.equal(await h.runTimers(), 1);
  mails = await h.smtp.waitFor(7);
  assert.equal(
    mails[6]!.parsed.subject,
    "plain: storm mode, 5 alerts held (10:02–10:17)",
  );
  assert.match(mails[6]!.parsed.text ?? "", /Held: 5\n/);
  assert.match(mails[6]!.parsed.text ?? "", /Storm mode goes on/);

  h.advance(5 * MIN);
  assert.equal((await h.ingest({ n: 11 })).suppressed_by, "breaker");
  h.advance(10 * MIN); // 10:32: one alert in 15 minutes is 4/h, under 5/h
  assert.equal(await h.runTimers(), 1);
  mails = await h.smtp.waitFor(9);
  assert.equal(
    mails[7]!.parsed.subject,
    "plain: storm mode, 1 alert held (10:17–10:32)",
  );
  assert.equal(
    mails[8]!.parsed.subject,
    "plain: storm mode off (4/h, under 5/h): single emails again",
  );
  assert.match(h.metrics.render(), /blitz_storm_mode\{detector="plain"\} 0/);
  assert.match(
    h.metrics.render(),
    /blitz_suppressed_total\{detector="plain",reason="breaker"\} 6/,
  );
  assert.equal(await h.runTimers(), 0, "no more ticks once off");
  const after = await h.ingest({ n: 12 });
  assert.equal(after.sent, true);
  const held = await h.runtime.store.listAlerts({
    detector: "plain",
    suppressed_by: "breaker",
    limit: 100,
  });
  assert.equal(held.length, 6, "what the digests counted is what was stored");
});

Deno.test("storm breaker off by default: a detector keeps one email per alert", async () => {
  await using h = await stormHarness({
    plain: { subject: "Plain {n}", enrichments: [] },
  });
  for (let n = 1; n <= 12; n++) {
    assert.equal((await h.ingest({ n })).sent, true);
  }
});
