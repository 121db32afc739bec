/**
 * `deno task migrate` as a child process on the original Blitz's published sample
 * (tests/fixtures/mail_conf_sample.py, copied from its README with the missing comma), then `check`
 * and `ingest` of the output as child processes with their tasks' flags.
 */
import assert from "node:assert/strict";
import { ROOT, runTask, shown } from "./_task.ts";
import { startEsFake } from "./_es_fake.ts";

const SAMPLE = await Deno.readTextFile(
  `${ROOT}/tests/fixtures/mail_conf_sample.py`,
);
const ALERT = await Deno.readTextFile(
  `${ROOT}/tests/fixtures/device_1_alert.json`,
);
const ENV = {
  BLITZ_ACTION_KEY: "migrate-test-key-0123456789abcdef",
  DEVICE_1_JIRA_CREATE_PASSWORD: "jira-secret-from-env",
};

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "blitz_migrate_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) out.push(entry.name);
  return out.sort();
}

Deno.test("migrate names the published sample's missing comma with its position and the fix", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/mail_conf.py`, SAMPLE);
    const run = await runTask("migrate", ["mail_conf.py", "--out", "out"], {
      cwd: dir,
    });
    assert.equal(run.code, 2, shown(run));
    const lines = run.stderr.trimEnd().split("\n");
    // Line 17 of the fixture is `"mail_title": "{param3}""enrichment": True,`; column 25 is right after "{param3}".
    assert.equal(
      lines[0],
      `mail_conf.py:17:25: missing ',' between "{param3}" and the key "enrichment" (Python would join the two strings): insert ',' here`,
    );
    assert.equal(lines[2]!.indexOf("^"), lines[1]!.indexOf(`"enrichment"`));
    assert.doesNotMatch(run.stderr, /\bat \S+:\d+:\d+/, "no stack trace");
    assert.deepEqual(await files(dir), ["mail_conf.py"], "nothing written");
  });
});

Deno.test("migrate of the fixed sample: check passes and the ported detector mails an alert to the outbox", async () => {
  const es = await startEsFake([{
    method: "POST",
    path: "/_msearch",
    respond: {
      took: 1,
      responses: [{
        took: 1,
        hits: { total: { value: 3 }, hits: [] },
        status: 200,
      }],
    },
  }]);
  try {
    await withDir(async (dir) => {
      const fixed = SAMPLE
        .replace(
          `"mail_title": "{param3}""enrichment"`,
          `"mail_title": "{param3}","enrichment"`,
        )
        .replace("PRIMARY_RECIPIENT", "primary@soc.example.org")
        .replace("SECONDARY_RECIPIENT", "secondary@soc.example.org")
        .replace("ELASTIC_HOST_IP", es.url.replace("http://", ""))
        // What check now refuses in the published sample (README "Porting from the original Blitz"):
        // get_data_from_db's query lived in the original's code, Jira's server and project were placeholders.
        .replace(
          `"e_func": "get_data_from_db",`,
          `"e_func": "get_data_from_db",\n"e_args": {"query": "SELECT owner FROM assets WHERE ip = ?"},`,
        )
        .replace(
          `"server": "JIRA_URL"`,
          `"server": "https://jira.soc.example.org"`,
        )
        .replace(`'project': 'JIRA_PROJECT_NAME'`, `'project': {'key': 'SOC'}`);
      await Deno.writeTextFile(`${dir}/mail_conf.py`, fixed);

      const dry = await runTask("migrate", ["mail_conf.py", "--dry-run"], {
        cwd: dir,
      });
      assert.equal(dry.code, 0, shown(dry));
      assert.match(dry.stdout, /^# ==> blitz\.yaml <==$/m);
      assert.match(dry.stdout, /^# ==> detectors\/device_1\.yaml <==$/m);
      assert.deepEqual(
        await files(dir),
        ["mail_conf.py"],
        "--dry-run writes nothing",
      );

      const first = await runTask("migrate", ["mail_conf.py", "--out", "out"], {
        cwd: dir,
      });
      assert.equal(first.code, 0, shown(first));
      assert.match(first.stdout, /^ {2}BLITZ_ACTION_KEY +new: /m);
      assert.match(
        first.stdout,
        /^ {2}DEVICE_1_JIRA_CREATE_PASSWORD +devices\.device_1\.actions\.reply\[0\]\[1\]\.actions\[0\]\[1\]\.data\.conn_details\.password$/m,
      );
      const global = await Deno.readTextFile(`${dir}/out/blitz.yaml`);
      const device = await Deno.readTextFile(
        `${dir}/out/detectors/device_1.yaml`,
      );
      assert.doesNotMatch(
        global + device,
        /password: XXXXXXXX|Sixteen byte key/,
        "no literal secret left",
      );
      assert.match(device, /password: \$\{env:DEVICE_1_JIRA_CREATE_PASSWORD\}/);
      assert.match(
        device,
        /^ {6}e_func: get_data_from_db$/m,
        "keys and values verbatim",
      );
      assert.match(
        device,
        /query: "\{\\"index\\":\|\|list_indexes\|\|.*\\r\\n"$/m,
        "escapes kept on one line",
      );

      const again = await runTask("migrate", ["mail_conf.py", "--out", "out"], {
        cwd: dir,
      });
      assert.equal(again.code, 0, shown(again));
      assert.match(again.stdout, /^unchanged .*\/out\/blitz\.yaml$/m);
      assert.match(
        again.stdout,
        /^unchanged .*\/out\/detectors\/device_1\.yaml$/m,
      );
      assert.equal(
        await Deno.readTextFile(`${dir}/out/detectors/device_1.yaml`),
        device,
      );

      // The database get_data_from_db queries (none listens there: the enrichment fails, the alert is mailed).
      await Deno.writeTextFile(
        `${dir}/out/blitz.yaml`,
        'databases: {assets: "mysql://blitz@127.0.0.1:1/assets"}\n',
        { append: true },
      );
      const check = await runTask("check", ["--config", "blitz.yaml"], {
        cwd: `${dir}/out`,
        env: ENV,
      });
      assert.equal(check.code, 0, shown(check));
      assert.match(check.stdout, /^ok: .*1 detector\(s\) \(device_1\)/m);

      const ingest = await runTask("ingest", [
        "device_1",
        "--config",
        "blitz.yaml",
      ], {
        cwd: `${dir}/out`,
        env: ENV,
        stdin: ALERT,
      });
      assert.equal(ingest.code, 0, shown(ingest));
      const summary = JSON.parse(ingest.stdout);
      assert.equal(summary.delivery.status, "outbox");
      assert.deepEqual(summary.to, [
        "soc-alerts@soc.example.org",
        "primary@soc.example.org",
      ]);
      assert.equal(
        es.requests.length,
        1,
        "the original's custom_enrichment_data query ran",
      );
      const eml = await Deno.readTextFile(summary.delivery.path);
      assert.ok(summary.delivery.path.startsWith(`${dir}/out/data/outbox/`));
      assert.match(
        eml,
        /^Subject: Email Alert : 192\.0\.2\.10 : SSH brute force\r$/m,
      );
      assert.doesNotMatch(eml, /jira-secret-from-env/);
    });
  } finally {
    await es.close();
  }
});

Deno.test("migrate refuses to overwrite a file with other content, and writes nothing", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/mail_conf.py`,
      `devices = {"d": {"subject": "x"}}\n`,
    );
    await Deno.writeTextFile(`${dir}/blitz.yaml`, "to: [me@example.org]\n");
    const run = await runTask("migrate", ["mail_conf.py"], { cwd: dir });
    assert.equal(run.code, 2, shown(run));
    assert.match(
      run.stderr,
      /^error: ".*\/blitz\.yaml" already exists with other content: move it away or choose another --out \(nothing was written\)$/m,
    );
    assert.deepEqual(await files(dir), ["blitz.yaml", "mail_conf.py"]);
  });
});

Deno.test("migrate keeps an untranslatable condition as TODO, and check fails on it with the original text", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/mail_conf.py`,
      `to = ["soc@example.org"]
devices = {
    "waf": {
        "enrichment_conditional": True,
        "enrichments": {
            'document.get("severity") == "high" and document["src"].startswith("10.")': [],
            're.match("^adm", document["user"])': [],  # regexes need a person
        },
    },
}
`,
    );
    const run = await runTask("migrate", ["mail_conf.py"], { cwd: dir });
    assert.equal(run.code, 0, shown(run));
    assert.match(
      run.stdout,
      /^ {2}detectors\/waf\.yaml: waf: re\.match\("\^adm", document\["user"\]\)$/m,
    );
    const check = await runTask("check", [], { cwd: dir, env: ENV });
    assert.equal(check.code, 2, shown(check));
    const lines = check.stderr.trim().split("\n");
    assert.equal(lines.length, 1, shown(check));
    assert.match(
      lines[0]!,
      /^error: .*\/detectors\/waf\.yaml: waf\.enrichments\["TODO\(migrate\): re\.match/,
    );
    assert.ok(
      lines[0]!.includes(
        `rewrite "re.match(\\"^adm\\", document[\\"user\\"])" in CEL`,
      ),
      lines[0]!,
    );
    const device = await Deno.readTextFile(`${dir}/detectors/waf.yaml`);
    assert.ok(
      device.includes(
        `(has(alert.severity) && alert.severity == "high") && alert.src.startsWith("10."): []`,
      ),
      device,
    );
  });
});
