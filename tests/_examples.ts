/**
 * The example detectors of `detectors/` and their samples (`tests/fixtures/samples/`) in a throwaway
 * project: the detector files copied in, reverse DNS answered by a loopback DNS server, a runtime whose
 * mail goes to the outbox. For the examples' tests and their browser test.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { simpleParser } from "mailparser";
import { type TestProject, writeProject } from "./_config.ts";
import { type DnsServer, startDnsServer } from "./_dns.ts";
import { ROOT } from "./_task.ts";
import { parseJson } from "../core/json.ts";
import {
  detectorOf,
  ingestAlert,
  type Runtime,
  splitAlert,
} from "../core/pipeline/pipeline.ts";
import { closeRuntime, createRuntime } from "../core/service/runtime.ts";

/** The example detectors, by name. */
export const EXAMPLES = [
  "suricata",
  "wazuh",
  "falco",
  "guardduty",
  "alertmanager",
  "modsecurity",
  "elastic",
] as const;

/** Where the samples are. */
export const SAMPLES = `${ROOT}/tests/fixtures/samples`;

/** The example detector files as `writeProject` files (`detectors/<name>.yaml`). */
export async function exampleFiles(): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const name of EXAMPLES) {
    files[`detectors/${name}.yaml`] = await Deno.readTextFile(
      `${ROOT}/detectors/${name}.yaml`,
    );
  }
  return files;
}

/** A sample alert, parsed losslessly. */
export async function readSample(
  file: string,
): Promise<Record<string, unknown>> {
  return parseJson(await Deno.readTextFile(`${SAMPLES}/${file}`)) as Record<
    string,
    unknown
  >;
}

/** A project with the examples and a runtime over it; dispose it with `await using`. */
export interface ExamplesHarness {
  project: TestProject;
  runtime: Runtime;
  dns: DnsServer;
  /** Ingests a sample (split as ingest splits it); each alert's summary and its parsed email. */
  ingest(detector: string, file: string): Promise<
    {
      summary: Awaited<ReturnType<typeof ingestAlert>>;
      mail: Awaited<ReturnType<typeof simpleParser>>;
      html: string;
    }[]
  >;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts the harness: the loopback DNS server answers the Suricata sample's source address. */
export async function examplesHarness(): Promise<ExamplesHarness> {
  const dns = await startDnsServer({
    "34.101.220.185.in-addr.arpa": [{
      type: "PTR",
      value: "tor-exit-34.example.net",
    }],
  });
  const project = await writeProject({
    global: {
      plugins: { reverse_dns: { nameserver: `127.0.0.1:${dns.port}` } },
    },
    files: await exampleFiles(),
  });
  const runtime = await createRuntime({
    configPath: project.config,
    env: (name) => project.env[name as keyof typeof project.env],
    log: () => {},
  });
  return {
    project,
    runtime,
    dns,
    async ingest(detector, file) {
      const items = splitAlert(
        detectorOf(runtime.config, detector),
        await readSample(file),
      );
      const out = [];
      for (const item of items) {
        const summary = await ingestAlert(runtime, detector, item);
        const bytes = await Deno.readFile(summary.delivery.path!);
        const mail = await simpleParser(Buffer.from(bytes));
        out.push({ summary, mail, html: mail.html || "" });
      }
      return out;
    },
    async [Symbol.asyncDispose]() {
      await closeRuntime(runtime);
      await dns.close();
      await project.cleanup();
    },
  };
}
