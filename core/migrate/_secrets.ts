/**
 * Literal secrets in a migrated device (`password`, tokens and keys, anything secret-like inside
 * `conn_details`) become `${env:NAME}` references; the names are derived from where the secret was
 * (`DEVICE_1_JIRA_CREATE_PASSWORD`), so a second run picks the same ones.
 *
 * @module
 */
import type { PyDict, PyValue } from "./_literal.ts";

const SECRET_KEY =
  /^(password|passwd|pwd|pass|secret|security_key|token|api_key|apikey|api_token|access_token|auth_token|private_key|client_secret)$/i;
const CONN_SECRET = /pass|secret|token|key/i;

/** A variable the migrated config now reads, and where its literal value was. */
export interface EnvVar {
  name: string;
  origin: string;
}

/** Collects variables across the whole migration (one name per distinct secret). */
export class SecretNames {
  #byName = new Map<string, { value: string; origin: string }>();

  /** The variables in the order they were first needed. */
  get vars(): EnvVar[] {
    return [...this.#byName].map(([name, { origin }]) => ({ name, origin }));
  }

  /** A name for `value` found at `origin`, based on `parts`; the same value under the same base reuses it. */
  name(parts: string[], value: string, origin: string): string {
    const base = parts.join("_").toUpperCase().replace(/[^A-Z0-9]+/g, "_")
      .replace(/^_+|_+$/g, "").replace(/^(\d)/, "_$1");
    for (let n = 1;; n++) {
      const name = n === 1 ? base : `${base}_${n}`;
      const seen = this.#byName.get(name);
      if (!seen) {
        this.#byName.set(name, { value, origin });
        return name;
      }
      if (seen.value === value) return name;
    }
  }
}

/** Returns `value` with literal secrets replaced by `${env:NAME}`, naming each in `names`. */
export function extractSecrets(
  value: PyValue,
  options: { context: string[]; path: string; names: SecretNames },
): PyValue {
  return walk(value, options.context, options.path, false);

  function walk(
    v: PyValue,
    context: string[],
    path: string,
    inConn: boolean,
  ): PyValue {
    if (Array.isArray(v)) {
      // A tuple ("name", {...}) names what is inside it: an action or a button.
      const named = v.length === 2 && typeof v[0] === "string" &&
          v[1] instanceof Map
        ? [...context.slice(0, 1), v[0]]
        : context;
      return v.map((item, i) => walk(item, named, `${path}[${i}]`, inConn));
    }
    if (!(v instanceof Map)) return v;
    const out: PyDict = new Map();
    for (const [key, item] of v) {
      const where = `${path}.${key}`;
      const secret = SECRET_KEY.test(key) || (inConn && CONN_SECRET.test(key));
      if (
        secret && typeof item === "string" && item !== "" &&
        !item.includes("${env:")
      ) {
        out.set(
          key,
          `\${env:${options.names.name([...context, key], item, where)}}`,
        );
      } else {
        out.set(
          key,
          walk(item, context, where, inConn || key === "conn_details"),
        );
      }
    }
    return out;
  }
}
