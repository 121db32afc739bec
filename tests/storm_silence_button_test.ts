/**
 * The built-in `silence` action with `scope: detector` on a detector's own reply button (issue 11):
 * confirmed through the confirmation page, it silences the whole detector for `for` (a detector
 * without `storm` too), later alerts are stored as suppressed by it, and when it ends one email says
 * how many arrived and links them. Real SMTP server on loopback, injected clock.
 */
import assert from "node:assert/strict";
import { stormHarness } from "./_storm.ts";

const MIN = 60_000;

Deno.test("silence scope detector from a reply button: the whole detector is held for `for`, and its end email counts and links them", async () => {
  await using h = await stormHarness({
    waf: {
      subject: "WAF {host}",
      enrichments: [],
      actions: {
        reply: [["Silence WAF 1h", {
          color: "grey",
          actions: [["silence", {
            for: "1h",
            scope: "detector",
            comment: "noisy rule",
          }]],
        }]],
      },
    },
  });
  const first = await h.ingest({ host: "web-1" });
  assert.equal(first.sent, true);
  const [mail] = await h.smtp.waitFor(1);
  const text0 = mail!.parsed.text ?? "";
  const href = /Silence WAF 1h\n.*\n(http\S+\/actions\/\S+)/.exec(text0)?.[1];
  assert.ok(href, text0);
  const done = await h.confirm(href, "Eve");
  assert.equal(done.status, 200, done.html);
  const [silence] = await h.runtime.store.storm.listSilences({ now: h.now() });
  assert.equal(silence?.detector, "waf");
  assert.equal(silence?.fingerprint, undefined, "the whole detector");
  assert.equal(silence?.created_by, "Eve");
  assert.equal(silence?.comment, "noisy rule");
  assert.equal(Date.parse(silence!.ends_at) - h.now().getTime(), 60 * MIN);

  h.advance(MIN);
  const held = [
    await h.ingest({ host: "web-2" }),
    await h.ingest({ host: "web-3" }),
  ];
  for (const s of held) assert.equal(s.suppressed_by, "silence");

  h.advance(60 * MIN);
  assert.equal(await h.runTimers(), 1);
  const mails = await h.smtp.waitFor(3); // the alert, the button's follow-up, the end
  const end = mails.find((m) => /silence ended/.test(m.parsed.subject ?? ""));
  assert.ok(end, mails.map((m) => m.parsed.subject).join("\n"));
  assert.equal(
    end!.parsed.subject,
    "waf: silence ended, 2 alerts arrived during it",
  );
  const text = end!.parsed.text ?? "";
  for (const s of held) assert.ok(text.includes(`/alerts/${s.alert_id}`));
  assert.ok(
    text.includes(
      `All 2 alerts it held: http://127.0.0.1:8080/alerts?silence=${
        silence!.id
      }`,
    ),
    text,
  );
  const after = await h.ingest({ host: "web-4" });
  assert.equal(after.sent, true, "mailed again once it ended");
});
