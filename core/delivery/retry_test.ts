/** The one retry-or-fail decision: which failures are transient, the backoff, and the decision on a given clock. */
import assert from "node:assert/strict";
import {
  backoffMs,
  retryOrFail,
  type RetryPolicy,
  smtpFailureIsTransient,
} from "./retry.ts";

const policy: RetryPolicy = {
  max_attempts: 3,
  backoff: 1_000,
  max_backoff: 3_000,
};

Deno.test("smtpFailureIsTransient() retries 4xx, 503 and connection errors, not other 5xx", () => {
  assert.equal(smtpFailureIsTransient({ responseCode: 451 }), true);
  assert.equal(smtpFailureIsTransient({ responseCode: 421 }), true);
  assert.equal(smtpFailureIsTransient({ responseCode: 503 }), true);
  assert.equal(smtpFailureIsTransient({ responseCode: 550 }), false);
  assert.equal(
    smtpFailureIsTransient({ responseCode: 554, code: "ECONNRESET" }),
    false,
  );
  assert.equal(smtpFailureIsTransient({ code: "ECONNREFUSED" }), true);
  assert.equal(smtpFailureIsTransient({ code: "ETIMEDOUT" }), true);
  assert.equal(smtpFailureIsTransient({ code: "EAUTH" }), false);
  assert.equal(smtpFailureIsTransient({}), false);
});

Deno.test("retryOrFail() gives up on a permanent failure or the last attempt, else retries after the backoff from now", () => {
  const now = new Date("2030-05-01T12:00:00.000Z");
  assert.deepEqual(
    retryOrFail(policy, { attempts: 1, transient: false, now }),
    { final: true },
  );
  assert.deepEqual(
    retryOrFail(policy, { attempts: 3, transient: true, now }),
    { final: true },
  );
  const decision = retryOrFail(policy, { attempts: 2, transient: true, now });
  assert.equal(decision.final, false);
  const wait = Date.parse(
    (decision as { nextAttemptAt: string }).nextAttemptAt,
  ) - now.getTime();
  // Attempt 2 waits 2 × backoff, ±20 % jitter.
  assert.ok(wait >= 1_600 && wait <= 2_400, `${wait} ms`);
});

Deno.test("backoffMs() doubles per attempt, is capped by max_backoff and jitters by at most 20 %", () => {
  for (let i = 0; i < 50; i++) {
    const first = backoffMs(policy, 1);
    assert.ok(first >= 800 && first <= 1_200, `attempt 1: ${first}`);
    const capped = backoffMs(policy, 10);
    assert.ok(capped >= 2_400 && capped <= 3_600, `attempt 10: ${capped}`);
  }
});
