import { parseFlagValue } from "@craft/craft-core";
/**
 * LeRobot-style dotted flags (`--policy.type=pi0_fast --craft.initial_lambda=1.0`), parsed into a
 * flat map of dotted keys and then into nested objects. Values are read as JSON where they parse
 * (numbers, booleans, arrays, null) and as strings otherwise, as draccus does for the common cases.
 */
export interface ParsedArgs {
  readonly positionals: readonly string[];
  readonly flags: ReadonlyMap<string, unknown>;
  readonly help: boolean;
}

export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Flag values follow craft-core's one rule set (JSON scalars, arrays and objects; else the raw string). */
export const parseValue = parseFlagValue;

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Map<string, unknown>();
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    if (!arg.startsWith("--")) {
      positionals.push(arg);
      continue;
    }
    const body = arg.slice(2);
    const eq = body.indexOf("=");
    let key: string;
    let value: unknown;
    if (eq >= 0) {
      key = body.slice(0, eq);
      value = parseValue(body.slice(eq + 1));
    } else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) {
      key = body;
      value = parseValue(argv[++i]);
    } else {
      key = body;
      value = true;
    }
    if (!/^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$/.test(key)) {
      throw new UsageError(`malformed flag "${arg}": expected --name=value with a dotted name such as --policy.type=pi0_fast`);
    }
    if (flags.has(key)) throw new UsageError(`flag --${key} given twice`);
    flags.set(key, value);
  }
  return { positionals, flags, help };
}

/** `{"policy.type": "x", "steps": 3}` → `{policy: {type: "x"}, steps: 3}`. */
export function toNested(flags: ReadonlyMap<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of flags) {
    const parts = key.split(".");
    let node = out;
    for (const part of parts.slice(0, -1)) {
      const next = node[part];
      if (next === undefined) node[part] = {};
      else if (typeof next !== "object" || next === null || Array.isArray(next)) {
        throw new UsageError(`flag --${key} conflicts with --${parts.slice(0, parts.indexOf(part) + 1).join(".")}`);
      }
      node = node[part] as Record<string, unknown>;
    }
    node[parts[parts.length - 1]] = value;
  }
  return out;
}

/** Deep merge where `override` wins; used for --config_path files under command-line flags. */
export function deepMerge(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) {
    const b = out[k];
    out[k] =
      isPlainObject(b) && isPlainObject(v) ? deepMerge(b as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

function isPlainObject(x: unknown): boolean {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Reject any flag not in `known` (exact dotted keys or prefixes ending with "."), naming the accepted ones. */
export function rejectUnknownFlags(flags: ReadonlyMap<string, unknown>, known: readonly string[], command: string): void {
  for (const key of flags.keys()) {
    const ok = known.some((k) => (k.endsWith(".") ? key.startsWith(k) : k === key));
    if (!ok) {
      const near = known.filter((k) => k.split(".")[0] === key.split(".")[0]).slice(0, 12);
      const hint = near.length ? near : known.slice(0, 12);
      throw new UsageError(
        `unknown flag --${key} for "craft ${command}". Accepted: ${hint.map((k) => `--${k}${k.endsWith(".") ? "*" : ""}`).join(", ")}${
          known.length > hint.length ? ", … (see --help)" : ""
        }`,
      );
    }
  }
}
