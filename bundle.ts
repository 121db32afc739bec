/**
 * Entry point of the single-file artifact (`deno task bundle`, `deno task compile`): imports every
 * lazily loaded module statically so the bundler includes it, registers them for `importLazy`, then
 * runs the CLI (`main.ts`). The built-ins are the paths of `core/plugins/catalogue.ts`, each preloaded
 * here (tests/catalogue_test.ts checks that none is missing).
 *
 * @module
 */
import { preload } from "./core/lazy.ts";
import * as ingest from "./cli/ingest.ts";
import * as render from "./cli/render.ts";
import * as check from "./cli/check.ts";
import * as serve from "./cli/serve.ts";
import * as migrate from "./cli/migrate.ts";
import * as backup from "./cli/backup.ts";
import * as replay from "./cli/replay.ts";
import * as silenceCli from "./cli/silence.ts";
import * as storeCli from "./cli/store.ts";
import * as redeliverCli from "./cli/redeliver.ts";
import * as conditions from "./core/config/conditions.ts";
import * as validateConfig from "./core/config/validate.ts";
import * as reverseDns from "./enrichments/reverse_dns.ts";
import * as httpApi from "./enrichments/http_api.ts";
import * as mysql from "./enrichments/mysql.ts";
import * as elasticsearch from "./enrichments/elasticsearch.ts";
import * as whois from "./enrichments/whois.ts";
import * as passToMail from "./actions/pass_to_mail.ts";
import * as jiraCreate from "./actions/jira_create.ts";
import * as forwardMail from "./actions/forward_mail.ts";
import * as httpRequest from "./actions/http_request.ts";
import * as silence from "./actions/silence.ts";
import * as ack from "./actions/ack.ts";
import * as smtpPool from "./core/delivery/smtp_pool.ts";
import * as postgresStore from "./core/store/postgres/postgres.ts";
import * as slackApi from "./core/channels/slack_api.ts";
import * as channels from "./core/channels/channels.ts";
import * as stormMail from "./core/pipeline/storm_mail.ts";
import * as yaml from "yaml";

preload({
  "cli/ingest.ts": ingest,
  "cli/render.ts": render,
  "cli/check.ts": check,
  "cli/serve.ts": serve,
  "cli/migrate.ts": migrate,
  "cli/backup.ts": backup,
  "cli/replay.ts": replay,
  "cli/silence.ts": silenceCli,
  "cli/store.ts": storeCli,
  "cli/redeliver.ts": redeliverCli,
  "core/config/conditions.ts": conditions,
  "core/config/validate.ts": validateConfig,
  "enrichments/reverse_dns.ts": reverseDns,
  "enrichments/http_api.ts": httpApi,
  "enrichments/mysql.ts": mysql,
  "enrichments/elasticsearch.ts": elasticsearch,
  "enrichments/whois.ts": whois,
  "actions/pass_to_mail.ts": passToMail,
  "actions/jira_create.ts": jiraCreate,
  "actions/forward_mail.ts": forwardMail,
  "actions/http_request.ts": httpRequest,
  "actions/silence.ts": silence,
  "actions/ack.ts": ack,
  "core/delivery/smtp_pool.ts": smtpPool,
  "core/store/postgres/postgres.ts": postgresStore,
  "core/channels/slack_api.ts": slackApi,
  "core/channels/channels.ts": channels,
  "core/pipeline/storm_mail.ts": stormMail,
  "npm:yaml": yaml,
});

// main.ts runs itself only as the entry module; here it is imported, so call it.
const { main } = await import("./main.ts");
Deno.exit(await main(Deno.args));
