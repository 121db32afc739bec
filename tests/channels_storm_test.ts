/**
 * Storm control's digests go to the detector's channels too: a closed realert window's digest reaches
 * a signed webhook as `blitz.digest` with its counts, fingerprint and buttons, once however often the
 * timer runs; a detector that notifies only a channel gets no digest email.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { Buffer } from "node:buffer";
import { deliverAlertChannels } from "../core/channels/channels.ts";
import { stormHarness, suricata } from "./_storm.ts";
import { type RecordedRequest, startReceiver } from "./_http.ts";

const SECRET = `whsec_${btoa("storm-webhook-secret-32-bytes!!!")}`;
const MIN = 60_000;

function signedBy(request: RecordedRequest, secret: string): boolean {
  const id = request.headers.get("webhook-id");
  const ts = request.headers.get("webhook-timestamp");
  const key = Buffer.from(secret.slice(6), "base64");
  const mac = createHmac("sha256", key).update(`${id}.${ts}.${request.body}`)
    .digest("base64");
  return (request.headers.get("webhook-signature") ?? "").split(" ").includes(
    `v1,${mac}`,
  );
}

for (const notify of [["email", "hook"], ["hook"]]) {
  Deno.test(`storm digest to notify ${JSON.stringify(notify)}: the webhook gets it once${notify.includes("email") ? ", beside the email" : ", and no email"}`, async () => {
    const hook = startReceiver(() => new Response(null, { status: 204 }));
    try {
      await using h = await stormHarness({
        ids: {
          subject: "IDS {alert.signature} from {src_ip}",
          storm: {
            fingerprint: ["alert.signature_id", "src_ip"],
            realert: "10m",
          },
          notify,
        },
      }, {
        channels: {
          hook: { type: "webhook", url: `${hook.url}/h`, secret: SECRET },
        },
      });
      const first = await h.ingest(suricata(2001, "203.0.113.7"));
      for (let i = 0; i < 5; i++) {
        h.advance(MIN);
        assert.equal(
          (await h.ingest(suricata(2001, "203.0.113.7"))).sent,
          false,
        );
      }
      h.advance(10 * MIN);
      assert.equal(await h.runTimers(), 1);
      assert.equal(await h.runTimers(), 0);
      const sent = await deliverAlertChannels(h.runtime, first.alert_id);
      assert.deepEqual(sent.map((s) => s.status), ["delivered"]);
      const digests = hook.requests.filter((r) =>
        JSON.parse(r.body).type === "blitz.digest"
      );
      assert.equal(digests.length, 1);
      assert.ok(signedBy(digests[0]!, SECRET));
      const body = JSON.parse(digests[0]!.body);
      assert.equal(body.alert_id, first.alert_id);
      assert.match(
        body.subject,
        /^ids: 5 more like "IDS ET RULE 2001 from 203\.0\.113\.7"/,
      );
      assert.equal(body.storm.count, 5);
      assert.ok(body.fingerprint, "the window's fingerprint");
      assert.ok(
        body.actions.some((a: { label: string }) =>
          a.label === "Ack this fingerprint"
        ),
      );
      if (notify.includes("email")) {
        const [, digest] = await h.smtp.waitFor(2);
        assert.equal(digest!.parsed.headers.get("x-blitz-storm"), "digest");
      } else {
        assert.equal(h.smtp.messages.length, 0, "email is not in notify");
      }
    } finally {
      await hook.close();
    }
  });
}
