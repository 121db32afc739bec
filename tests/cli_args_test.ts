/**
 * The command-line parser (cli/args.ts) through the CLI as a child process with each task's own
 * permission flags: unknown options and stray positionals are refused with a suggestion, a switch never
 * takes the next word, `--flag=false` is false, `--version` prints deno.json's version.
 */
import assert from "node:assert/strict";
import { writeProject } from "./_config.ts";
import { ROOT, runTask, shown } from "./_task.ts";

const VERSION = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`)).version;

function project() {
  return writeProject({
    detectors: { det: { subject: "Alert on {host}", enrichments: [] } },
  });
}

Deno.test("check refuses a misspelt option and a stray argument, naming the fix, instead of validating ./blitz.yaml", async () => {
  const p = await project();
  try {
    const [misspelt, stray] = await Promise.all([
      runTask("check", ["--cofnig", "blitz.yaml"], {
        cwd: p.dir,
        env: p.env,
      }),
      runTask("check", ["blitz.yaml"], { cwd: p.dir, env: p.env }),
    ]);
    assert.equal(misspelt.code, 2, shown(misspelt));
    assert.match(
      misspelt.stderr,
      /^error: Unknown option "--cofnig" for check; did you mean "--config"\?/,
    );
    assert.equal(misspelt.stdout, "", "nothing validated");
    assert.equal(stray.code, 2, shown(stray));
    assert.match(
      stray.stderr,
      /Unexpected argument "blitz\.yaml": check takes no arguments; did you mean "--config blitz\.yaml"\?/,
    );
    assert.equal(stray.stdout, "");
    // The correct spelling passes: the refusals above are about the words, not the project.
    const ok = await runTask("check", ["--config", "blitz.yaml"], {
      cwd: p.dir,
      env: p.env,
    });
    assert.equal(ok.code, 0, shown(ok));
  } finally {
    await p.cleanup();
  }
});

Deno.test("render: --text never takes the detector as its value, and --text=false is false", async () => {
  const p = await project();
  const alert = JSON.stringify({ host: "web-1" });
  const opts = { cwd: p.dir, env: p.env, stdin: alert };
  try {
    const [before, falsy, truthy] = await Promise.all([
      runTask("render", ["--text", "det", "--config", "blitz.yaml"], opts),
      runTask("render", ["det", "--text=false", "--config=blitz.yaml"], opts),
      runTask("render", ["det", "--text=true", "--config", "blitz.yaml"], opts),
    ]);
    assert.equal(before.code, 0, shown(before));
    assert.doesNotMatch(before.stdout, /<html/i, "--text before the name");
    assert.match(before.stdout, /Alert on web-1/);
    assert.equal(truthy.code, 0, shown(truthy));
    assert.doesNotMatch(truthy.stdout, /<html/i);
    assert.match(truthy.stdout, /^Alert on web-1$/m);
    assert.equal(falsy.code, 0, shown(falsy));
    assert.match(falsy.stdout, /<html/i, "--text=false renders the HTML");
    const bad = await runTask("render", ["det", "--text=maybe"], opts);
    assert.equal(bad.code, 2, shown(bad));
    assert.match(
      bad.stderr,
      /--text is a switch: write --text, --text=true or --text=false \(got "maybe"\)/,
    );
  } finally {
    await p.cleanup();
  }
});

Deno.test("a value option without its value, extra positionals and unknown short options are refused, exit 2", async () => {
  const p = await project();
  const opts = { cwd: p.dir, env: p.env, stdin: "{}" };
  try {
    const cases: [string, string[], RegExp][] = [
      [
        "check",
        ["--config"],
        /check: --config needs a value: --config <value>/,
      ],
      [
        "check",
        ["--config", "--help"],
        /--config needs a value, not an option/,
      ],
      [
        "ingest",
        ["det", "extra"],
        /Unexpected argument "extra": ingest takes <detector>/,
      ],
      ["render", ["-x", "det"], /Unknown option "-x" for render/],
      ["ingest", ["det", "--confg=blitz.yaml"], /did you mean "--config"\?/],
    ];
    const runs = await Promise.all(
      cases.map(([task, args]) => runTask(task, args, opts)),
    );
    runs.forEach((run, i) => {
      assert.equal(run.code, 2, shown(run));
      assert.match(run.stderr, cases[i]![2], shown(run));
      assert.doesNotMatch(run.stderr, /^\s+at /m, "no stack trace");
    });
  } finally {
    await p.cleanup();
  }
});

Deno.test("--version prints deno.json's version, at the top and on any command; --help still works", async () => {
  const p = await project();
  const opts = { cwd: p.dir, env: p.env };
  try {
    const [check, render, help] = await Promise.all([
      runTask("check", ["--version"], opts),
      runTask("render", ["--version"], opts),
      runTask("check", ["-h"], opts),
    ]);
    for (const run of [check, render]) {
      assert.equal(run.code, 0, shown(run));
      assert.equal(run.stdout, `blitz ${VERSION}\n`);
    }
    assert.equal(help.code, 0, shown(help));
    assert.match(help.stdout, /^Usage: blitz check/);
  } finally {
    await p.cleanup();
  }
});
