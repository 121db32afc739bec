/**
 * Secrets: `${env:NAME}` substitution in config, and redaction of every substituted value (and of
 * credentials in URLs) from anything Blitz writes to logs, records, emails and error messages.
 *
 * @module
 */

const known = new Set<string>();
let pattern: RegExp | undefined;

/** Marks a value as secret so `redact()` hides it; values shorter than 4 characters are ignored. */
export function registerSecret(value: string): void {
  if (value.length < 4 || known.has(value)) return;
  known.add(value);
  pattern = undefined;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Replaces registered secrets and `user:password@` URL credentials in text with `[redacted]`. */
export function redact(text: string): string {
  if (known.size > 0) {
    pattern ??= new RegExp(
      [...known].sort((a, b) => b.length - a.length).map(escapeRegExp).join(
        "|",
      ),
      "g",
    );
    text = text.replace(pattern, "[redacted]");
  }
  return text.replace(
    /(\b[a-z][a-z0-9+.-]*:\/\/)([^/\s:@]*):([^/\s@]*)@/gi,
    "$1$2:[redacted]@",
  );
}

/** Redacts secrets in every string of a JSON-like value (for records and emails). */
export function redactDeep<T>(value: T): T {
  if (typeof value === "string") return redact(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v)) as T;
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v);
    return out as T;
  }
  return value;
}

const ENV_REF = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Replaces `${env:NAME}` in every string of a parsed config value. Each substituted value is
 * registered as a secret. Missing variables are reported through `onMissing` with the value's path.
 */
export function substituteEnv(
  value: unknown,
  options: {
    env: (name: string) => string | undefined;
    onMissing: (name: string, path: string) => void;
  },
  path = "",
): unknown {
  if (typeof value === "string") {
    return value.replace(ENV_REF, (ref, name: string) => {
      const found = options.env(name);
      if (found === undefined) {
        options.onMissing(name, path);
        return ref;
      }
      registerSecret(found);
      return found;
    });
  }
  if (Array.isArray(value)) {
    return value.map((v, i) => substituteEnv(v, options, `${path}[${i}]`));
  }
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = substituteEnv(v, options, path ? `${path}.${k}` : k);
    }
    return out;
  }
  return value;
}
