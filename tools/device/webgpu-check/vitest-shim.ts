/**
 * Just enough of vitest's API to run packages/policy-pi0fast/test/webgpu.test.ts from a bundle on
 * the GPU machine (which has no node_modules). build.mjs aliases `vitest` to this file.
 * Module mocking (vi.resetModules/doMock) is not available in a bundle: tests that need it are
 * reported as "not run on device" with that reason, never counted as passed.
 */
import { isDeepStrictEqual, inspect } from "node:util";

type Fn = () => unknown | Promise<unknown>;
interface Test {
  readonly name: string;
  readonly fn: Fn;
}
interface Suite {
  readonly name: string;
  readonly tests: Test[];
  readonly beforeAll: Fn[];
  readonly afterAll: Fn[];
  readonly children: Suite[];
}

const root: Suite = { name: "", tests: [], beforeAll: [], afterAll: [], children: [] };
let current = root;

export function describe(name: string, body: () => void): void {
  const suite: Suite = { name, tests: [], beforeAll: [], afterAll: [], children: [] };
  current.children.push(suite);
  const parent = current;
  current = suite;
  try {
    body();
  } finally {
    current = parent;
  }
}

export function it(name: string, fn: Fn): void {
  current.tests.push({ name, fn });
}
export const test = it;

export function beforeAll(fn: Fn): void {
  current.beforeAll.push(fn);
}

export function afterAll(fn: Fn): void {
  current.afterAll.push(fn);
}

export class NotOnDevice extends Error {}

export const vi = {
  resetModules(): never {
    throw new NotOnDevice("needs vitest module mocking (vi.resetModules), which a bundle cannot do");
  },
  doMock(_name: string, _factory?: unknown): never {
    throw new NotOnDevice("needs vitest module mocking (vi.doMock), which a bundle cannot do");
  },
  doUnmock(_name?: string): void {},
};

const show = (v: unknown) => inspect(v, { depth: 3, maxArrayLength: 20, breakLength: Infinity });

function matchers(actual: unknown, label: string | undefined, negate = false) {
  const fail = (what: string) => {
    throw new Error(`${label ? `${label}: ` : ""}expected ${show(actual)} ${negate ? "not " : ""}${what}`);
  };
  const check = (ok: boolean, what: string) => {
    if (ok === negate) fail(what);
  };
  return {
    toBe: (e: unknown) => check(Object.is(actual, e), `to be ${show(e)}`),
    toEqual: (e: unknown) => check(isDeepStrictEqual(actual, e), `to equal ${show(e)}`),
    toBeTruthy: () => check(Boolean(actual), "to be truthy"),
    toBeGreaterThan: (e: number) => check((actual as number) > e, `to be > ${e}`),
    toBeGreaterThanOrEqual: (e: number) => check((actual as number) >= e, `to be ≥ ${e}`),
    toBeLessThan: (e: number) => check((actual as number) < e, `to be < ${e}`),
    toBeLessThanOrEqual: (e: number) => check((actual as number) <= e, `to be ≤ ${e}`),
    toMatch: (re: RegExp | string) => check(typeof actual === "string" && (typeof re === "string" ? actual.includes(re) : re.test(actual)), `to match ${re}`),
    toContain: (e: unknown) =>
      check((typeof actual === "string" && typeof e === "string" && actual.includes(e)) || (Array.isArray(actual) && actual.includes(e)), `to contain ${show(e)}`),
    toThrow: (re?: RegExp | string) => {
      let message: string | undefined;
      try {
        (actual as () => unknown)();
      } catch (e) {
        message = (e as Error).message ?? String(e);
      }
      check(message !== undefined && (re === undefined || (typeof re === "string" ? message.includes(re) : re.test(message))), `to throw ${re ?? ""} (threw ${JSON.stringify(message)})`);
    },
    toMatchObject: (e: Record<string, unknown>) =>
      check(
        Object.entries(e).every(([k, v]) => isDeepStrictEqual((actual as Record<string, unknown>)?.[k], v)),
        `to match object ${show(e)}`,
      ),
  };
}

export function expect(actual: unknown, label?: string) {
  return {
    ...matchers(actual, label),
    not: matchers(actual, label, true),
    rejects: {
      async toThrow(re?: RegExp | string) {
        let error: unknown;
        try {
          await (typeof actual === "function" ? (actual as () => Promise<unknown>)() : actual);
        } catch (e) {
          error = e;
        }
        if (error === undefined) throw new Error(`${label ? `${label}: ` : ""}expected a rejection`);
        const message = (error as Error).message ?? String(error);
        if (re !== undefined && !(typeof re === "string" ? message.includes(re) : re.test(message))) {
          throw new Error(`${label ? `${label}: ` : ""}expected a rejection matching ${re}, got ${JSON.stringify(message)}`);
        }
      },
    },
  };
}

export interface Result {
  readonly name: string;
  readonly status: "passed" | "failed" | "not run on device";
  readonly ms: number;
  readonly error?: string;
}

/** Runs every registered test in order (suites' beforeAll/afterAll included) and returns results. */
export async function runRegistered(log: (line: string) => void = console.log): Promise<Result[]> {
  const results: Result[] = [];
  const visit = async (suite: Suite, prefix: string, inherited: string | undefined): Promise<void> => {
    let setupError = inherited;
    for (const f of suite.beforeAll) {
      if (setupError !== undefined) break;
      try {
        await f();
      } catch (e) {
        setupError = `beforeAll failed: ${(e as Error).message}`;
      }
    }
    for (const t of suite.tests) {
      const name = `${prefix}${t.name}`;
      const t0 = performance.now();
      let r: Result;
      if (setupError !== undefined) {
        r = { name, status: "failed", ms: 0, error: setupError };
      } else {
        try {
          await t.fn();
          r = { name, status: "passed", ms: performance.now() - t0 };
        } catch (e) {
          r = e instanceof NotOnDevice
            ? { name, status: "not run on device", ms: 0, error: e.message }
            : { name, status: "failed", ms: performance.now() - t0, error: (e as Error).stack ?? String(e) };
        }
      }
      results.push(r);
      log(`${r.status === "passed" ? "PASS" : r.status === "failed" ? "FAIL" : "N/A "} ${name} (${r.ms.toFixed(0)} ms)${r.error ? `\n     ${r.error.split("\n").slice(0, 6).join("\n     ")}` : ""}`);
    }
    for (const child of suite.children) await visit(child, `${prefix}${child.name} > `, setupError);
    for (const f of suite.afterAll) {
      try {
        await f();
      } catch (e) {
        const error = e instanceof NotOnDevice ? undefined : (e as Error).message;
        if (error !== undefined) {
          results.push({ name: `${prefix}afterAll`, status: "failed", ms: 0, error });
          log(`FAIL ${prefix}afterAll\n     ${error}`);
        }
      }
    }
  };
  await visit(root, "", undefined);
  return results;
}
