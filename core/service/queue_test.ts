import assert from "node:assert/strict";
import { Queue } from "./queue.ts";
import { Metrics } from "./metrics.ts";
import { newAlertId, type Runtime } from "../pipeline/pipeline.ts";
import { closeRuntime, createRuntime } from "./runtime.ts";
import { startSmtpServer, type TestSmtpServer } from "../../tests/_smtp.ts";
import { type TestProject, writeProject } from "../../tests/_config.ts";

interface Setup {
  project: TestProject;
  smtp: TestSmtpServer;
  runtime: Runtime;
  events: Record<string, unknown>[];
  [Symbol.asyncDispose](): Promise<void>;
}

async function setup(
  options: { failFirst?: number; global?: Record<string, unknown> } = {},
): Promise<Setup> {
  const smtp = await startSmtpServer({ failFirst: options.failFirst ?? 0 });
  const project = await writeProject({
    global: {
      action_keys: undefined,
      smtp: `${smtp.url}?ignore_tls=1`,
      delivery: {
        max_attempts: 3,
        backoff: "20ms",
        max_backoff: "50ms",
        timeout: "5s",
      },
      ...options.global,
    },
    detectors: { t1: { subject: "Alert {n}", enrichments: [] } },
  });
  const events: Record<string, unknown>[] = [];
  const runtime = await createRuntime({
    configPath: project.config,
    log: (event, fields) => events.push({ event, ...fields }),
  });
  return {
    project,
    smtp,
    runtime,
    events,
    async [Symbol.asyncDispose]() {
      await closeRuntime(runtime);
      await smtp.close();
      await project.cleanup();
    },
  };
}

const alert = (n: number, key?: string) => ({
  id: newAlertId(),
  detector: "t1",
  alert: { n },
  ...(key === undefined ? {} : { idempotency_key: key }),
});

/** Polls `check` every `everyMs` until it holds; fails (instead of hanging CI) after 30 s. */
async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  everyMs = 5,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `never happened: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

Deno.test("Queue.enqueue() stores alerts before resolving and returns the original id for a known key", async () => {
  await using s = await setup();
  const queue = new Queue(s.runtime);
  const first = alert(1, "k1");
  const [a, b] = await Promise.all([
    queue.enqueue([first]),
    queue.enqueue([alert(1, "k1"), alert(2)]),
  ]);
  assert.deepEqual(a, [{ id: first.id, duplicate: false }]);
  assert.deepEqual(
    b![0],
    { id: first.id, duplicate: true },
    "a concurrent retry gets the first id",
  );
  assert.equal(b![1]!.duplicate, false);
  assert.equal((await s.runtime.store.getAlert(first.id))?.status, "queued");
  assert.equal(await s.runtime.store.backlog(), 2);
  await queue.stop();
});

Deno.test("Queue workers deliver a burst exactly once and the backlog returns to zero", async () => {
  await using s = await setup();
  const metrics = new Metrics();
  const queue = new Queue(metrics.instrument(s.runtime), { metrics });
  await queue.start(4);
  const ids = (await Promise.all(
    Array.from({ length: 40 }, (_, i) => queue.enqueue([alert(i)])),
  )).flat().map((r) => r.id);
  assert.equal(queue.backlog <= 40, true);
  const mails = await s.smtp.waitFor(40, 15_000);
  await queue.stop();
  const delivered = mails.map((m) => m.parsed.messageId);
  assert.equal(new Set(delivered).size, 40);
  for (const id of ids) {
    assert.ok(delivered.some((m) => m?.startsWith(`<${id}@`)), id);
  }
  for (const id of ids) {
    assert.equal((await s.runtime.store.getAlert(id))?.status, "delivered");
  }
  assert.equal(await s.runtime.store.backlog(), 0);
  assert.equal(queue.backlog, 0);
  assert.match(
    metrics.render(),
    /blitz_alerts_processed_total\{detector="t1",outcome="delivered"\} 40\n/,
  );
  assert.match(
    metrics.render(),
    /blitz_delivery_attempts_total\{detector="t1"\} 40\n/,
  );
});

Deno.test("Queue workers hold at most one alert each in processing while deliveries are slow", async () => {
  await using s = await setup();
  const gate = Promise.withResolvers<void>();
  const runtime: Runtime = {
    ...s.runtime,
    delivery: {
      send: async (message) => {
        await gate.promise;
        return await s.runtime.delivery.send(message);
      },
      close: () => s.runtime.delivery.close(),
    },
  };
  const queue = new Queue(runtime);
  const ids =
    (await queue.enqueue(Array.from({ length: 10 }, (_, i) => alert(i))))
      .map((r) => r.id);
  await queue.start(3);
  await until(() => queue.busy >= 3, "three workers busy");
  const processing = await s.runtime.store.listAlerts({ status: "processing" });
  assert.equal(processing.length, 3, "one claimed alert per worker, no more");
  assert.equal(
    (await s.runtime.store.listAlerts({ status: "queued" })).length,
    7,
  );
  gate.resolve();
  const mails = await s.smtp.waitFor(10, 15_000);
  await queue.stop();
  assert.deepEqual(
    new Set(mails.map((m) => m.parsed.messageId?.slice(1).split("@")[0])),
    new Set(ids),
  );
  assert.equal(await s.runtime.store.backlog(), 0);
});

Deno.test("Queue.start() requeues alerts a crashed process left in processing", async () => {
  await using s = await setup();
  const left = alert(7);
  await s.runtime.store.insertAlerts([left]);
  const claimed = await s.runtime.store.claimNext({ leaseMs: 3_600_000 });
  assert.equal(claimed?.id, left.id);
  const queue = new Queue(s.runtime);
  const { requeued } = await queue.start(1);
  assert.equal(requeued, 1);
  const [mail] = await s.smtp.waitFor(1, 10_000);
  await queue.stop();
  assert.equal(mail!.parsed.messageId, `<${left.id}@127.0.0.1>`);
  assert.ok(s.events.some((e) => e.event === "requeued" && e.count === 1));
});

Deno.test("Queue retries a failed delivery with backoff and then delivers it", async () => {
  await using s = await setup({ failFirst: 2 });
  const queue = new Queue(s.runtime, { pollMs: 5_000 }); // the retry must run from its own timer
  await queue.start(1);
  const { id } = (await queue.enqueue([alert(1)]))[0]!;
  await s.smtp.waitFor(1, 10_000);
  await queue.stop();
  const record = await s.runtime.store.getAlert(id);
  assert.equal(record?.status, "delivered");
  assert.equal(record?.attempts, 3);
  assert.equal(
    s.events.filter((e) => e.event === "delivery_retry" && e.alert_id === id)
      .length,
    2,
  );
});

Deno.test("Queue marks an alert failed after max_attempts and keeps it", async () => {
  await using s = await setup({ failFirst: 100 });
  const metrics = new Metrics();
  const queue = new Queue(metrics.instrument(s.runtime), { metrics });
  await queue.start(1);
  const { id } = (await queue.enqueue([alert(1)]))[0]!;
  await until(
    async () => (await s.runtime.store.getAlert(id))?.status === "failed",
    "the alert failed",
  );
  await queue.stop();
  const record = await s.runtime.store.getAlert(id);
  assert.equal(record?.attempts, 3);
  assert.match(record?.last_error ?? "", /451/);
  assert.equal(queue.backlog, 0);
  assert.ok(s.events.some((e) => e.event === "failed" && e.alert_id === id));
  assert.match(
    metrics.render(),
    /blitz_alerts_failed_total\{detector="t1"\} 1\n/,
  );
  assert.match(
    metrics.render(),
    /blitz_delivery_failures_total\{detector="t1"\} 3\n/,
  );
});

Deno.test("Queue fails an alert of an unknown detector at once instead of retrying it", async () => {
  await using s = await setup();
  const queue = new Queue(s.runtime);
  const orphan = { ...alert(1), detector: "removed_detector" };
  await s.runtime.store.insertAlerts([orphan]);
  await queue.start(1);
  await until(
    async () =>
      (await s.runtime.store.getAlert(orphan.id))?.status === "failed",
    "the orphan failed",
  );
  await queue.stop();
  const record = await s.runtime.store.getAlert(orphan.id);
  assert.equal(record?.attempts, 1);
  assert.match(record?.last_error ?? "", /Unknown detector "removed_detector"/);
});

Deno.test("Queue retries a processing error at the time of the runtime's clock, not the wall clock", async () => {
  await using s = await setup({
    global: {
      delivery: {
        max_attempts: 3,
        backoff: "1s",
        max_backoff: "1s",
        timeout: "5s",
      },
    },
  });
  const tomorrow = new Date(Date.now() + 86_400_000);
  // An unusable public_url makes composing throw: the queue's own retry-or-fail path, not delivery's.
  const broken: Runtime = {
    ...s.runtime,
    clock: () => tomorrow,
    config: {
      ...s.runtime.config,
      global: { ...s.runtime.config.global, public_url: "not a url" },
    },
  };
  const queue = new Queue(broken);
  await queue.start(1);
  const { id } = (await queue.enqueue([alert(1)]))[0]!;
  const deadline = Date.now() + 10_000;
  let record = await s.runtime.store.getAlert(id);
  while (record?.status !== "retry") {
    assert.ok(Date.now() < deadline, "the alert reached retry in time");
    await new Promise((r) => setTimeout(r, 20));
    record = await s.runtime.store.getAlert(id);
  }
  await queue.stop();
  const wait = Date.parse(record.next_attempt_at!) - tomorrow.getTime();
  assert.ok(
    wait >= 800 && wait <= 1200,
    `next attempt ${wait} ms after the clock`,
  );
  assert.ok(
    s.events.some((e) => e.event === "process_retry" && e.alert_id === id),
  );
});

Deno.test("Queue.stop() lets the alert in progress finish; alerts enqueued later stay queued", async () => {
  await using s = await setup();
  const queue = new Queue(s.runtime);
  await queue.start(2);
  const { id } = (await queue.enqueue([alert(1)]))[0]!;
  await until(
    async () =>
      queue.busy > 0 ||
      (await s.runtime.store.getAlert(id))?.status !== "queued",
    "the alert was claimed",
    1,
  );
  const { unfinished } = await queue.stop({ graceMs: 10_000 });
  assert.equal(unfinished, 0);
  assert.equal(queue.running, false);
  assert.equal((await s.runtime.store.getAlert(id))?.status, "delivered");
  const { id: later } = (await queue.enqueue([alert(2)]))[0]!;
  assert.equal((await s.runtime.store.getAlert(later))?.status, "queued");
  assert.equal(queue.workers, 2);
  assert.equal(queue.busy, 0);
});

Deno.test("Queue: a worker takes its next alert before the last outcome is written; counts and logs follow the write, stop() waits for it", async () => {
  await using s = await setup();
  // The store's outcome writes wait at a gate: a slow disk, as the worker sees it.
  const gate = Promise.withResolvers<void>();
  const store = s.runtime.store;
  const updateAlert: typeof store.updateAlert = async (id, patch) => {
    await gate.promise;
    return store.updateAlert(id, patch);
  };
  const gated = new Proxy(store, {
    get: (target, key) => {
      if (key === "updateAlert") return updateAlert;
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const metrics = new Metrics();
  const queue = new Queue(
    metrics.instrument({ ...s.runtime, store: gated }),
    { metrics },
  );
  await queue.start(1);
  const ids = (await Promise.all([
    queue.enqueue([alert(1)]),
    queue.enqueue([alert(2)]),
  ])).flat().map((r) => r.id);
  // One worker mailed both: it did not wait for the first outcome's write.
  await s.smtp.waitFor(2, 10_000);
  const processed = () =>
    /blitz_alerts_processed_total\{detector="t1",outcome="delivered"\} (\d+)/
      .exec(metrics.render())?.[1] ?? "0";
  assert.equal(processed(), "0", "nothing counted before its write");
  assert.equal(queue.backlog, 2);
  assert.equal(s.events.filter((e) => e.event === "delivered").length, 0);
  for (const id of ids) {
    assert.equal((await store.getAlert(id))?.status, "processing");
  }
  const stopped = queue.stop();
  gate.resolve();
  await stopped;
  assert.equal(processed(), "2");
  assert.equal(queue.backlog, 0);
  assert.equal(s.events.filter((e) => e.event === "delivered").length, 2);
  for (const id of ids) {
    assert.equal((await store.getAlert(id))?.status, "delivered");
  }
});

Deno.test("Queue: an outcome write that fails once is written again; one that never ends does not hold stop() past its grace", async () => {
  await using s = await setup();
  const store = s.runtime.store;
  let failures = 1;
  const hang = Promise.withResolvers<void>();
  let hanging = false;
  const updateAlert: typeof store.updateAlert = async (id, patch) => {
    if (hanging) return await hang.promise;
    if (failures-- > 0) throw new Error("database is locked");
    return store.updateAlert(id, patch);
  };
  const proxied = new Proxy(store, {
    get: (target, key) => {
      if (key === "updateAlert") return updateAlert;
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const queue = new Queue({ ...s.runtime, store: proxied });
  await queue.start(1);
  const id = (await queue.enqueue([alert(1)]))[0]!.id;
  await s.smtp.waitFor(1, 10_000);
  for (
    let i = 0;
    i < 500 && (await store.getAlert(id))?.status !== "delivered";
    i++
  ) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(
    (await store.getAlert(id))?.status,
    "delivered",
    "the second write",
  );
  assert.equal(s.smtp.messages.length, 1);
  hanging = true; // the disk hangs from now on
  await queue.enqueue([alert(2)]);
  await s.smtp.waitFor(2, 10_000);
  const started = performance.now();
  await queue.stop({ graceMs: 200 });
  // Not a timing: stop() never returns while the write hangs unless it keeps a grace, and the
  // default one is 30 s; half of that leaves a loaded machine room.
  assert.ok(performance.now() - started < 15_000, "stop() kept its grace");
  hang.resolve();
});

Deno.test("Queue.backlog: a refresh while a new alert's write is committed but not yet durable does not count it twice", async () => {
  await using s = await setup();
  const store = s.runtime.store;
  // The insert commits at once and resolves only at a gate: the fsync of a durable write, as a refresh
  // read on the same connection sees it (the row is there before the promise resolves).
  const fsync = Promise.withResolvers<void>();
  const committed = Promise.withResolvers<void>();
  const insertAlertsIdempotent: typeof store.insertAlertsIdempotent = async (
    alerts,
  ) => {
    const results = await store.insertAlertsIdempotent(alerts);
    committed.resolve();
    await fsync.promise;
    return results;
  };
  // One refresh read after the commit gets through; later ones never answer, so nothing corrects the
  // count before the assertion.
  let reads = 0;
  const refreshed = Promise.withResolvers<void>();
  const backlog: typeof store.backlog = async () => {
    await committed.promise;
    if (reads++ > 0) return await new Promise<number>(() => {});
    const n = await store.backlog();
    refreshed.resolve();
    return n;
  };
  let started = false; // the first read, at start, goes to the store
  const proxied = new Proxy(store, {
    get: (target, key) => {
      if (key === "insertAlertsIdempotent") return insertAlertsIdempotent;
      if (key === "backlog" && started) return backlog;
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const metrics = new Metrics();
  const queue = new Queue(
    metrics.instrument({ ...s.runtime, store: proxied }),
    { metrics, refreshMs: 5 },
  );
  await queue.start(1);
  started = true;
  const enqueued = queue.enqueue([alert(1)]);
  await committed.promise;
  // The refresh timer fires while the write is in flight (bounded: it fires every 5 ms).
  await Promise.race([
    refreshed.promise,
    new Promise((r) => setTimeout(r, 200)),
  ]);
  fsync.resolve();
  await enqueued;
  await s.smtp.waitFor(1, 10_000);
  const processed = () =>
    /blitz_alerts_processed_total\{detector="t1",outcome="delivered"\} (\d+)/
      .exec(metrics.render())?.[1] ?? "0";
  for (let i = 0; i < 500 && processed() !== "1"; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(processed(), "1");
  assert.equal(await store.backlog(), 0);
  assert.equal(queue.backlog, 0, "the counter agrees with the store");
  await queue.stop();
});

Deno.test("Queue.backlog: an alert a worker finishes before its insert's fsync ends is not counted after it", async () => {
  await using s = await setup();
  const store = s.runtime.store;
  // The insert commits at once and resolves only at a gate (its fsync): a polling worker claims,
  // mails and records the alert in between, so its outcome is counted before enqueue counts it.
  const fsync = Promise.withResolvers<void>();
  const insertAlertsIdempotent: typeof store.insertAlertsIdempotent = async (
    alerts,
  ) => {
    const results = await store.insertAlertsIdempotent(alerts);
    await fsync.promise;
    return results;
  };
  const proxied = new Proxy(store, {
    get: (target, key) => {
      if (key === "insertAlertsIdempotent") return insertAlertsIdempotent;
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const metrics = new Metrics();
  const queue = new Queue(
    metrics.instrument({ ...s.runtime, store: proxied }),
    { metrics, pollMs: 10, refreshMs: 3_600_000 },
  );
  await queue.start(1);
  const enqueued = queue.enqueue([alert(1)]);
  await s.smtp.waitFor(1, 10_000);
  const processed = () =>
    /blitz_alerts_processed_total\{detector="t1",outcome="delivered"\} (\d+)/
      .exec(metrics.render())?.[1] ?? "0";
  for (let i = 0; i < 500 && processed() !== "1"; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(processed(), "1", "recorded before the insert resolved");
  fsync.resolve();
  await enqueued;
  assert.equal(await store.backlog(), 0);
  assert.equal(queue.backlog, 0, "the counter agrees with the store");
  await queue.stop();
});
