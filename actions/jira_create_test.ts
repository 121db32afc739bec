import assert from "node:assert/strict";
import plugin from "./jira_create.ts";
import { fakeJira } from "../tests/_http.ts";
import { parseParams, pluginContext } from "../tests/_plugin.ts";

const fields = {
  project: { key: "SOC" },
  issuetype: { name: "Task" },
  summary: "device1 - 10.0.0.5",
  customfield_13106: { id: "12309" },
  customfield_13111: "NA",
  customfield_13104: "10.0.0.5",
  description: "EVENT_DESCRIPTION",
};

/** Creates an issue with `fields` (and `extra` fields) on the Jira that `connDetails` names. */
function run(
  connDetails: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<unknown> {
  const params = parseParams(plugin, {
    data: { conn_details: connDetails, fields: { ...fields, ...extra } },
  });
  return Promise.resolve(plugin.run(params, pluginContext()));
}

Deno.test("jira_create run() creates an issue on Data Center with basic auth and returns its key", async () => {
  const jira = fakeJira();
  try {
    const key = await run({
      server: jira.url,
      username: "svc-blitz",
      password: "dc-password-1",
    });
    assert.equal(key, "SOC-1");
    assert.equal(jira.requests.length, 1);
    const [request] = jira.requests;
    assert.equal(request!.method, "POST");
    assert.equal(request!.path, "/rest/api/2/issue");
    assert.equal(
      request!.headers.get("authorization"),
      `Basic ${btoa("svc-blitz:dc-password-1")}`,
    );
    assert.deepEqual(
      (JSON.parse(request!.body) as { fields: unknown }).fields,
      fields,
    );
  } finally {
    await jira.close();
  }
});

Deno.test("jira_create run() sends a Data Center personal access token as Bearer", async () => {
  const jira = fakeJira();
  try {
    const key = await run({
      server: `${jira.url}/`,
      token: "pat-0123456789",
    });
    assert.equal(key, "SOC-1");
    assert.equal(
      jira.requests[0]!.headers.get("authorization"),
      "Bearer pat-0123456789",
    );
    assert.equal(jira.requests[0]!.path, "/rest/api/2/issue");
  } finally {
    await jira.close();
  }
});

Deno.test("jira_create run() uses email and API token for Jira Cloud, and REST v3 with an Atlassian document", async () => {
  const jira = fakeJira({ cloud: true });
  try {
    const cloud = {
      server: jira.url,
      username: "analyst@example.test",
      password: "cloud-api-token",
    };
    assert.equal(await run(cloud), "SOC-1");
    assert.equal(
      jira.requests[0]!.headers.get("authorization"),
      `Basic ${btoa("analyst@example.test:cloud-api-token")}`,
    );
    assert.equal(jira.requests[0]!.path, "/rest/api/2/issue");

    assert.equal(
      await run({ ...cloud, api_version: 3 }, {
        description: "Line one\n\nLine two",
      }),
      "SOC-2",
    );
    const v3 = jira.requests[1]!;
    assert.equal(v3.path, "/rest/api/3/issue");
    assert.deepEqual(
      (JSON.parse(v3.body) as { fields: { description: unknown } }).fields
        .description,
      {
        type: "doc",
        version: 1,
        content: [
          { type: "paragraph", content: [{ type: "text", text: "Line one" }] },
          { type: "paragraph", content: [{ type: "text", text: "Line two" }] },
        ],
      },
    );
  } finally {
    await jira.close();
  }
});

Deno.test("jira_create run() reports Jira's field errors without the credentials", async () => {
  const jira = fakeJira({ fail: true });
  try {
    await assert.rejects(
      () =>
        run({
          server: jira.url,
          username: "svc",
          password: "secret-password-9",
        }),
      (err: Error) => {
        assert.match(
          err.message,
          /answered 400: summary: You must specify a summary/,
        );
        assert.ok(!err.message.includes("secret-password-9"));
        assert.ok(!err.message.includes(btoa("svc:secret-password-9")));
        return true;
      },
    );
  } finally {
    await jira.close();
  }
});

Deno.test("jira_create run() fails when Jira cannot be reached", async () => {
  const jira = fakeJira();
  const url = jira.url;
  await jira.close();
  await assert.rejects(
    () => run({ server: url, token: "pat-0123456789" }),
    /Cannot reach Jira at http:\/\/127\.0\.0\.1:\d+/,
  );
});

Deno.test("jira_create params need a token or a username and password", () => {
  const result = plugin.params!.safeParse({
    data: {
      conn_details: { server: "https://jira.example.test", username: "x" },
      fields,
    },
  });
  assert.equal(result.success, false);
  const scheme = plugin.params!.safeParse({
    data: {
      conn_details: { server: "file:///etc/passwd", token: "t" },
      fields,
    },
  });
  assert.equal(scheme.success, false);
});
