/**
 * `deploy/install.sh --prefix <dir>` into a temp dir, then the installed launcher as a new user would run
 * it: `<dir>/opt/blitz/blitz check` and `… ingest device_1 < tests/fixtures/device_1_alert.json`, from
 * an unrelated working directory, with the email checked in `<dir>/var/lib/blitz/outbox/`.
 */
import assert from "node:assert/strict";
import { ROOT, runCommand as run, shown } from "./_task.ts";
import { startDnsServer } from "./_dns.ts";

Deno.test("install.sh --prefix installs a tree whose launcher checks and ingests into the outbox", async () => {
  const dns = await startDnsServer({
    "10.2.0.192.in-addr.arpa": [{ type: "PTR", value: "scanner.example.test" }],
  });
  const dir = await Deno.makeTempDir({ prefix: "blitz_install_" });
  const elsewhere = await Deno.makeTempDir({ prefix: "blitz_cwd_" });
  try {
    const install = await run("sh", [
      `${ROOT}/deploy/install.sh`,
      "--prefix",
      dir,
    ], {
      cwd: elsewhere,
      env: { DENO: Deno.execPath() },
    });
    assert.equal(install.code, 0, shown(install));

    for (
      const path of [
        "opt/blitz/blitz",
        "opt/blitz/blitz.js",
        "opt/blitz/sandbox_worker.ts",
        "opt/blitz/sandbox_child.ts",
        "opt/blitz/deno",
        "etc/blitz/blitz.yaml",
        "etc/blitz/blitz.env",
        "etc/blitz/detectors/device_1.yaml",
        "etc/systemd/system/blitz.service",
      ]
    ) {
      assert.ok((await Deno.stat(`${dir}/${path}`)).isFile, path);
    }
    assert.ok((await Deno.stat(`${dir}/var/lib/blitz`)).isDirectory);
    assert.equal(
      (await Deno.stat(`${dir}/etc/blitz/blitz.env`)).mode! & 0o077,
      0,
      "blitz.env is private",
    );

    const unit = await Deno.readTextFile(
      `${dir}/etc/systemd/system/blitz.service`,
    );
    const execStart = /^ExecStart=(\S+) run (.*) (\S+) serve$/m.exec(unit);
    assert.ok(execStart, unit);
    assert.equal(execStart[1], `${dir}/opt/blitz/deno`);
    assert.equal(execStart[3], `${dir}/opt/blitz/blitz.js`);
    const flags = execStart[2]!;
    assert.ok(
      flags.includes(
        `--allow-read=${dir}/etc/blitz,${dir}/opt/blitz,${dir}/var/lib/blitz `,
      ),
    );
    assert.ok(flags.includes(`--allow-write=${dir}/var/lib/blitz `));
    const words = flags.split(" ");
    assert.doesNotMatch(
      words.filter((w) => !w.startsWith("--allow-run=")).join(" "),
      /(^|\s)(-A|--allow-all|--allow-run|--allow-ffi)\b/,
    );
    // The service may run exactly its pinned Deno binary (the plugin sandbox processes), nothing else.
    assert.deepEqual(
      words.filter((w) => w.startsWith("--allow-run")),
      [`--allow-run=${dir}/opt/blitz/deno`],
    );
    for (
      const line of [
        "ExecReload=/bin/kill -HUP $MAINPID",
        "ProtectSystem=strict",
        `ReadWritePaths=${dir}/var/lib/blitz`,
        "NoNewPrivileges=true",
        `EnvironmentFile=-${dir}/etc/blitz/blitz.env`,
      ]
    ) {
      assert.ok(unit.split("\n").includes(line), `${line}\n${unit}`);
    }
    assert.doesNotMatch(unit.replaceAll(dir, ""), new RegExp(`${dir}`));
    const launcher = await Deno.readTextFile(`${dir}/opt/blitz/blitz`);
    assert.ok(
      launcher.includes(` run ${flags} "${dir}/opt/blitz/blitz.js" "$@"`),
      "the launcher has the service's flags",
    );

    // The example's reverse DNS asks the loopback server (tests touch only loopback).
    await Deno.writeTextFile(
      `${dir}/etc/blitz/blitz.yaml`,
      `\nplugins:\n  reverse_dns: {nameserver: "127.0.0.1:${dns.port}"}\n`,
      { append: true },
    );
    const env = { JIRA_USER: "demo", JIRA_TOKEN: "demo" };
    const check = await run(`${dir}/opt/blitz/blitz`, ["check"], {
      cwd: elsewhere,
      env,
    });
    assert.equal(check.code, 0, shown(check));
    assert.match(
      check.stdout,
      new RegExp(
        // The example detectors of detectors/ are installed beside device_1.
        `^ok: ${dir}/etc/blitz/blitz\\.yaml: 8 detector\\(s\\) \\(alertmanager, device_1, elastic, falco, guardduty, modsecurity, suricata, wazuh\\)`,
      ),
    );

    // A config outside the layout is named with the flag and the layout that grants it.
    await Deno.copyFile(
      `${dir}/etc/blitz/blitz.yaml`,
      `${elsewhere}/blitz.yaml`,
    );
    const outside = await run(`${dir}/opt/blitz/blitz`, [
      "check",
      "--config",
      `${elsewhere}/blitz.yaml`,
    ], {
      cwd: elsewhere,
      env,
    });
    await Deno.remove(`${elsewhere}/blitz.yaml`);
    assert.equal(outside.code, 2, shown(outside));
    assert.ok(
      outside.stderr.includes(
        `Blitz may not read "${elsewhere}/blitz.yaml" (--allow-read): the launcher and the service read only ${dir}/etc/blitz, ${dir}/opt/blitz and ${dir}/var/lib/blitz;`,
      ),
      shown(outside),
    );

    const ingest = await run(`${dir}/opt/blitz/blitz`, ["ingest", "device_1"], {
      cwd: elsewhere,
      env,
      stdin: await Deno.readTextFile(
        `${ROOT}/tests/fixtures/device_1_alert.json`,
      ),
    });
    assert.equal(ingest.code, 0, shown(ingest));
    const summary = JSON.parse(ingest.stdout);
    assert.equal(summary.enrichments[0].status, "ok", shown(ingest));
    const outbox = [...Deno.readDirSync(`${dir}/var/lib/blitz/outbox`)].map((
      e,
    ) => e.name);
    assert.deepEqual(outbox, [`${summary.alert_id}.eml`]);
    const eml = await Deno.readTextFile(
      `${dir}/var/lib/blitz/outbox/${outbox[0]}`,
    );
    assert.match(
      eml,
      /^Subject: Email Alert : 192\.0\.2\.10 : SSH brute force\r$/m,
    );
    assert.deepEqual(
      [...Deno.readDirSync(elsewhere)],
      [],
      "nothing written to the working directory",
    );

    // A second install (an upgrade) keeps the host's config and secrets.
    const config = await Deno.readTextFile(`${dir}/etc/blitz/blitz.yaml`);
    const secrets = await Deno.readTextFile(`${dir}/etc/blitz/blitz.env`);
    const again = await run("sh", [
      `${ROOT}/deploy/install.sh`,
      "--prefix",
      dir,
    ], {
      cwd: elsewhere,
      env: { DENO: Deno.execPath() },
    });
    assert.equal(again.code, 0, shown(again));
    assert.equal(
      await Deno.readTextFile(`${dir}/etc/blitz/blitz.yaml`),
      config,
    );
    assert.equal(
      await Deno.readTextFile(`${dir}/etc/blitz/blitz.env`),
      secrets,
    );
  } finally {
    await dns.close();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(elsewhere, { recursive: true });
  }
});

Deno.test("install.sh without --prefix refuses to run unprivileged, and a wrong Deno is named", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "blitz_cwd_" });
  try {
    if (Deno.uid() !== 0) {
      const plain = await run("sh", [`${ROOT}/deploy/install.sh`], { cwd });
      assert.equal(plain.code, 2, shown(plain));
      assert.match(plain.stderr, /run as root .* or use --prefix <dir>/);
    }
    const fakeDeno = `${cwd}/deno`;
    await Deno.writeTextFile(
      fakeDeno,
      "#!/bin/sh\necho 'deno 1.46.0 (stable)'\n",
    );
    await Deno.chmod(fakeDeno, 0o755);
    const wrong = await run("sh", [
      `${ROOT}/deploy/install.sh`,
      "--prefix",
      `${cwd}/p`,
    ], {
      cwd,
      env: { DENO: fakeDeno },
    });
    assert.equal(wrong.code, 2, shown(wrong));
    assert.match(wrong.stderr, /pinned to Deno 2\.9\.6, .* is 1\.46\.0/);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
