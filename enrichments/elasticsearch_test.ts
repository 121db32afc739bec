import assert from "node:assert/strict";
import type { PluginContext } from "../core/plugin.ts";
import {
  type EsFake,
  type EsFakeRoute,
  startEsFake,
} from "../tests/_es_fake.ts";
import plugin, {
  closeElasticClients,
  esNodeUrl,
  type EsQueryResult,
  shapeResponse,
} from "./elasticsearch.ts";

function context(
  options: {
    alert: Record<string, unknown>;
    settings: Record<string, unknown>;
    signal?: AbortSignal;
  },
): PluginContext {
  return {
    signal: options.signal ?? new AbortController().signal,
    alert: options.alert,
    detector: "test",
    alertId: "a1",
    args: [],
    settings: options.settings,
    log() {},
  };
}

async function run(ctx: PluginContext): Promise<EsQueryResult[]> {
  return await plugin.run(plugin.params!.parse({}), ctx) as EsQueryResult[];
}

async function withFake(
  routes: EsFakeRoute[],
  fn: (fake: EsFake) => Promise<void>,
): Promise<void> {
  const fake = await startEsFake(routes);
  try {
    await fn(fake);
  } finally {
    await closeElasticClients();
    await fake.close();
  }
}

// The original Blitz example, verbatim (Elasticsearch 1.x syntax, \r\n line ends).
const ORIGINAL_MSEARCH =
  '{"index":||list_indexes||,"search_type":"count","ignore_unavailable":true}\r\n' +
  '{"size":0,"query":{"filtered":{"query":{"query_string":{"query":"*","analyze_wildcard":true}},"filter":{"bool":{"must":[{"query":{"match":{"ip_src_addr":{"query":||ip_src_addr||,"type":"phrase"}}}}],"must_not":[]}}}},"aggs":{"2":{"terms":{"field":"eventName","size":20,"order":{"_count":"desc"}}}}}\r\n';

Deno.test("elasticsearch run() sends the original _msearch example with placeholders JSON-encoded", async () => {
  const expectedBody =
    '{"index":["idx"],"search_type":"count","ignore_unavailable":true}\n' +
    '{"size":0,"query":{"filtered":{"query":{"query_string":{"query":"*","analyze_wildcard":true}},"filter":{"bool":{"must":[{"query":{"match":{"ip_src_addr":{"query":"10.0.0.5","type":"phrase"}}}}],"must_not":[]}}}},"aggs":{"2":{"terms":{"field":"eventName","size":20,"order":{"_count":"desc"}}}}}\n';
  const routes: EsFakeRoute[] = [{
    method: "POST",
    path: "/_msearch",
    query: "timeout=0&ignore_unavailable=true",
    body: expectedBody,
    respond: {
      took: 5,
      responses: [{
        took: 3,
        timed_out: false,
        hits: {
          total: { value: 42, relation: "eq" },
          max_score: null,
          hits: [],
        },
        aggregations: {
          "2": {
            doc_count_error_upper_bound: 0,
            sum_other_doc_count: 2,
            buckets: [{ key: "ConsoleLogin", doc_count: 30 }, {
              key: "AssumeRole",
              doc_count: 10,
            }],
          },
        },
        status: 200,
      }],
    },
  }];
  await withFake(routes, async (fake) => {
    const settings = {
      custom_enrichment_data: [{
        index: "idx",
        es_host: fake.url.replace("http://", ""),
        query_data: [{
          method: "POST",
          url: "/_msearch?timeout=0&ignore_unavailable=true",
          query: ORIGINAL_MSEARCH,
        }],
      }],
      auth: { username: "blitz", password: "s3cret-pass" },
    };
    const result = await run(
      context({ alert: { ip_src_addr: "10.0.0.5" }, settings }),
    );
    assert.deepEqual(fake.mismatches, []);
    assert.deepEqual(result, [{
      name: "POST /_msearch",
      took_ms: 3,
      total: 42,
      hits: [],
      aggregations: {
        "2": [{ key: "ConsoleLogin", count: 30 }, {
          key: "AssumeRole",
          count: 10,
        }, { key: "(other)", count: 2 }],
      },
    }]);
    assert.equal(fake.requests.length, 1);
    assert.equal(
      fake.requests[0]!.headers.get("authorization"),
      `Basic ${btoa("blitz:s3cret-pass")}`,
    );
    assert.equal(
      fake.requests[0]!.headers.get("content-type"),
      "application/x-ndjson",
    );
  });
});

Deno.test("elasticsearch run() escapes quotes in alert values and flattens capped hits", async () => {
  const hit = (id: string, user: string) => ({
    _index: "logs-a",
    _id: id,
    _source: { user: { name: user }, action: "login" },
  });
  const routes: EsFakeRoute[] = [{
    method: "GET",
    path: "/logs-a,logs%20b/_search",
    body:
      '{"query":{"term":{"user.name":"eve\\"},\\"x\\":{\\"||user.id||"}},"size":5}',
    respond: {
      took: 1,
      hits: {
        total: 3,
        hits: [hit("1", "eve"), hit("2", "bob"), hit("3", "ann")],
      },
    },
  }];
  await withFake(routes, async (fake) => {
    const settings = {
      custom_enrichment_data: [{
        index: ["logs-a", "logs b"],
        es_host: fake.url,
        query_data: [{
          name: "Logins",
          method: "get",
          url: "||list_indexes||/_search",
          query: '{"query":{"term":{"user.name":||user.name||}},"size":5}',
        }],
      }],
      auth: { api_key: "k3y-value" },
      max_hits: 2,
    };
    const alert = { user: { name: 'eve"},"x":{"||user.id||', id: 7 } };
    const result = await run(context({ alert, settings }));
    assert.deepEqual(fake.mismatches, []);
    assert.deepEqual(result, [{
      name: "Logins",
      took_ms: 1,
      total: 3,
      hits: [
        { _index: "logs-a", _id: "1", "user.name": "eve", action: "login" },
        { _index: "logs-a", _id: "2", "user.name": "bob", action: "login" },
      ],
      aggregations: {},
    }]);
    assert.equal(
      fake.requests[0]!.headers.get("authorization"),
      "ApiKey k3y-value",
    );
    assert.equal(
      fake.requests[0]!.headers.get("content-type"),
      "application/json",
    );
  });
});

Deno.test("elasticsearch run() reports a failed request beside the others, and fails when all fail", async () => {
  const routes: EsFakeRoute[] = [
    {
      method: "POST",
      path: "/bad/_search",
      status: 400,
      respond: {
        error: {
          type: "parsing_exception",
          reason: "unknown query [filtered]",
          root_cause: [],
        },
        status: 400,
      },
    },
    { method: "POST", path: "/good/_count", respond: { count: 12 } },
  ];
  await withFake(routes, async (fake) => {
    const entry = (queryData: unknown[]) => ({
      custom_enrichment_data: [{
        index: "x",
        es_host: fake.url,
        query_data: queryData,
      }],
    });
    const bad = {
      name: "bad",
      url: "/bad/_search",
      query: '{"query":{"filtered":{}}}',
    };
    const good = { url: "/good/_count" };
    const both = await run(
      context({ alert: {}, settings: entry([bad, good]) }),
    );
    assert.deepEqual(both, [
      {
        name: "bad",
        error:
          'Elasticsearch request "bad" failed: HTTP 400: parsing_exception: unknown query [filtered]',
      },
      { name: "POST /good/_count", total: 12 },
    ]);
    await assert.rejects(run(context({ alert: {}, settings: entry([bad]) })), {
      message:
        'Elasticsearch request "bad" failed: HTTP 400: parsing_exception: unknown query [filtered]',
    });
  });
});

Deno.test("elasticsearch run() sends nothing when the alert lacks a placeholder key", async () => {
  await withFake([], async (fake) => {
    const settings = {
      custom_enrichment_data: [{
        index: "idx",
        es_host: fake.url,
        query_data: [{ url: "/_msearch", query: ORIGINAL_MSEARCH }],
      }],
    };
    await assert.rejects(run(context({ alert: { other: 1 }, settings })), {
      name: "TypeError",
      message: "Alert has no value for ||ip_src_addr||",
    });
    assert.equal(fake.requests.length, 0);
  });
});

Deno.test("elasticsearch run() keeps alert values from climbing the URL path", async () => {
  await withFake([], async (fake) => {
    const settings = {
      custom_enrichment_data: [{
        index: "idx",
        es_host: fake.url,
        query_data: [{ url: "/||tenant||/_search" }],
      }],
    };
    await assert.rejects(run(context({ alert: { tenant: ".." }, settings })), {
      name: "TypeError",
      message: 'Alert value ".." cannot be a URL path segment',
    });
    assert.equal(fake.requests.length, 0);
  });
});

Deno.test("elasticsearch run() aborts an in-flight request when the signal aborts", async () => {
  const arrived = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const routes: EsFakeRoute[] = [{
    method: "POST",
    path: "/slow/_search",
    respond: async () => {
      arrived.resolve();
      await release.promise;
      return { hits: { total: 0, hits: [] } };
    },
  }];
  await withFake(routes, async (fake) => {
    const controller = new AbortController();
    const reason = new Error("deadline passed");
    const settings = {
      custom_enrichment_data: [{
        index: "x",
        es_host: fake.url,
        query_data: [{ url: "/slow/_search" }],
      }],
    };
    const pending = run(
      context({ alert: {}, settings, signal: controller.signal }),
    );
    await arrived.promise;
    controller.abort(reason);
    await assert.rejects(pending, (err) => err === reason);
    release.resolve();
  });
});

Deno.test("shapeResponse() turns nested aggregations into tables and metrics into values", () => {
  const response = {
    took: 9,
    hits: { total: { value: 100, relation: "gte" }, hits: [] },
    aggregations: {
      per_hour: {
        buckets: [{
          key_as_string: "2024-05-01T10:00:00Z",
          key: 1714557600000,
          doc_count: 7,
          top_users: {
            sum_other_doc_count: 0,
            buckets: [{ key: "eve", doc_count: 5 }],
          },
          avg_bytes: { value: 1536.5 },
        }],
      },
      by_status: {
        buckets: { errors: { doc_count: 3 }, ok: { doc_count: 97 } },
      },
      unique_ips: { value: 12 },
      only_eve: {
        doc_count: 5,
        max_bytes: { value: 4096, value_as_string: "4 KiB" },
      },
      latency: { values: { "50.0": 12, "99.0": 340 } },
    },
  };
  assert.deepEqual(shapeResponse("q", response), [{
    name: "q",
    took_ms: 9,
    total: 100,
    hits: [],
    aggregations: {
      per_hour: [{
        key: "2024-05-01T10:00:00Z",
        count: 7,
        top_users: [{ key: "eve", count: 5 }],
        avg_bytes: 1536.5,
      }],
      by_status: [{ key: "errors", count: 3 }, { key: "ok", count: 97 }],
      unique_ips: 12,
      only_eve: [{ key: "only_eve", count: 5, max_bytes: "4 KiB" }],
      latency: { "50.0": 12, "99.0": 340 },
    },
  }]);
});

Deno.test("shapeResponse() names each _msearch item and keeps item errors", () => {
  const response = {
    responses: [
      {
        hits: {
          total: 1,
          hits: [{
            _index: "i",
            _id: "a",
            fields: { "host.name": ["web1"], tags: ["x", "y"] },
          }],
        },
      },
      {
        error: {
          type: "index_not_found_exception",
          reason: "no such index [nope]",
        },
        status: 404,
      },
    ],
  };
  assert.deepEqual(shapeResponse("m", response), [
    {
      name: "m #1",
      total: 1,
      hits: [{ _index: "i", _id: "a", "host.name": "web1", tags: ["x", "y"] }],
      aggregations: {},
    },
    {
      name: "m #2",
      error: "HTTP 404: index_not_found_exception: no such index [nope]",
    },
  ]);
});

Deno.test("esNodeUrl() adds http:// and port 9200 to a bare host", () => {
  assert.equal(esNodeUrl("10.1.2.3"), "http://10.1.2.3:9200");
  assert.equal(esNodeUrl("es.internal:9201"), "http://es.internal:9201");
  assert.equal(
    esNodeUrl("https://es.example.com:9243/"),
    "https://es.example.com:9243",
  );
  assert.equal(esNodeUrl("http://127.0.0.1:9200"), "http://127.0.0.1:9200");
});
