/**
 * Every fenced shell block of the READMEs runs as written (issue 18). The blocks are read from the
 * Markdown at collection time, so CI runs what the READMEs say, not a copy of it.
 *
 * Where: a fresh copy of this working tree (tracked and untracked-but-not-ignored files, no
 * node_modules, no dist) in a temporary directory, because the root README starts with `npm ci`,
 * which would wipe the running checkout's node_modules. Every block runs in that copy's root, as a
 * user runs them in a fresh clone, in README order: the root README first (its `npm ci` installs the
 * copy, from npm's cache: npm_config_prefer_offline=true), then the packages' and tools' READMEs.
 * Each README starts without the previous one's data/ and outputs/.
 *
 * Sizes: only CRAFT_SMOKE=1, which the root README documents (2 training steps, tiny experiment).
 *
 * Markers: an HTML comment on the line before a fence changes how it is checked —
 *   <!-- readme-check: syntax — why it cannot run in CI -->  checked with `bash -n` only
 *   <!-- readme-check: ci-command -->  the CI script's own command (`npm test`, which runs this
 *     file): checked to be .ci/run's last line, verbatim, instead of running it inside itself.
 */
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const SHELL_INFO = new Set(["bash", "sh", "shell", "zsh"]);
const MARKER = /^<!--\s*readme-check:\s*(syntax|ci-command)\b\s*(?:[—–-]\s*(.*?))?\s*-->$/;
/**
 * A hang guard per block, not a speed bound: the slowest block (the root README's "Using it", with
 * the retention experiment's smoke preset) takes under two minutes on the idle 2-core VM.
 */
const BLOCK_TIMEOUT_MS = 240_000;

interface Block {
  readonly readme: string;
  readonly line: number;
  readonly info: string;
  readonly text: string;
  readonly mode: "run" | "syntax" | "ci-command";
  readonly reason: string;
}

/** Fenced blocks of one Markdown file, with the marker (if any) on the line before each fence. */
export const fencedBlocks = (readme: string, markdown: string): Block[] => {
  const lines = markdown.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w+-]*)/.exec(lines[i]!);
    if (open === null) continue;
    const fence = open[2]!;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !lines[j]!.trimStart().startsWith(fence)) body.push(lines[j++]!);
    if (j === lines.length) throw new Error(`${readme}:${i + 1}: fenced block never closed`);
    const marker = MARKER.exec((lines[i - 1] ?? "").trim());
    if (marker !== null && marker[1] === "syntax" && (marker[2] ?? "") === "") {
      throw new Error(`${readme}:${i}: readme-check marker "syntax": expected a reason after "—" (why the block cannot run in CI)`);
    }
    blocks.push({
      readme,
      line: i + 1,
      info: open[3]!.toLowerCase(),
      text: body.join("\n"),
      mode: marker === null ? "run" : (marker[1] as "syntax" | "ci-command"),
      reason: marker?.[2] ?? "",
    });
    i = j;
  }
  return blocks;
};

/** The root README, then packages/*\/README.md and tools/**\/README.md, sorted. */
const readmes = (): string[] => {
  const found: string[] = [];
  for (const pkg of readdirSync(path.join(repoRoot, "packages")).sort()) {
    if (existsSync(path.join(repoRoot, "packages", pkg, "README.md"))) found.push(path.join("packages", pkg, "README.md"));
  }
  const walk = (dir: string): void => {
    for (const entry of readdirSync(path.join(repoRoot, dir), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.isDirectory() && entry.name !== "node_modules") walk(path.join(dir, entry.name));
      else if (entry.name === "README.md") found.push(path.join(dir, entry.name));
    }
  };
  walk("tools");
  return ["README.md", ...found];
};

const allBlocks = readmes().flatMap((readme) => fencedBlocks(readme, readFileSync(path.join(repoRoot, readme), "utf8")));
const shellBlocks = allBlocks.filter((b) => SHELL_INFO.has(b.info));

const LAUNCHER_VARS = /^(PMI_|PMIX_|OMPI_|SLURM_|HYDRA_|MPIR_|I_MPI_|NX_|VITEST|npm_)/;

/** The environment a user's shell would have, plus CRAFT_SMOKE=1; nothing from vitest, nx or npm's run of this test. */
const blockEnv = (copy: string): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!LAUNCHER_VARS.test(k) && k !== "INIT_CWD" && k !== "NODE_ENV") env[k] = v;
  // npm run puts the checkout's node_modules/.bin on PATH; the blocks must resolve the copy's.
  const outer = path.join(repoRoot, "node_modules", ".bin");
  const pathEntries = (env.PATH ?? "").split(path.delimiter).filter((p) => p !== "" && !p.startsWith(repoRoot + path.sep) && p !== outer);
  env.PATH = [path.join(copy, "node_modules", ".bin"), ...pathEntries].join(path.delimiter);
  env.CRAFT_SMOKE = "1";
  env.npm_config_prefer_offline = "true";
  return env;
};

const runBash = (args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn("bash", args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += String(d)));
    child.stderr.on("data", (d) => (output += String(d)));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });

/** This working tree as a fresh clone would have it after checkout: no node_modules, dist or outputs. */
const freshCopy = (): string => {
  const listing = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: repoRoot, encoding: "utf8" });
  if (listing.status !== 0) throw new Error(`readme check: \`git ls-files\` failed in ${repoRoot} (a git checkout is needed): ${listing.stderr}`);
  const copy = mkdtempSync(path.join(tmpdir(), "craft-readme-"));
  for (const file of listing.stdout.split("\0")) {
    if (file === "" || file.startsWith("shared/") || !existsSync(path.join(repoRoot, file))) continue;
    mkdirSync(path.dirname(path.join(copy, file)), { recursive: true });
    cpSync(path.join(repoRoot, file), path.join(copy, file), { verbatimSymlinks: true });
  }
  return copy;
};

const tail = (text: string, lines = 60) => text.split("\n").slice(-lines).join("\n");

describe("README blocks", () => {
  it("finds the shell blocks of the root README and the packages' READMEs", () => {
    expect(shellBlocks.filter((b) => b.readme === "README.md").length).toBeGreaterThanOrEqual(2);
    expect(new Set(shellBlocks.map((b) => b.readme))).toContain(path.join("packages", "cli", "README.md"));
  });

  it("tags every block that holds commands with its shell, so none escapes this check", () => {
    const untagged = allBlocks.filter((b) => b.info === "" && /^\s*(npx|npm|craft|mpiexec|node|sbatch|srun)\s/m.test(b.text));
    expect(untagged.map((b) => `${b.readme}:${b.line}`)).toEqual([]);
  });

  it("marks ci-command only on .ci/run's own command, verbatim", () => {
    const ciRun = readFileSync(path.join(repoRoot, ".ci", "run"), "utf8").trim().split("\n");
    const ciCommand = ciRun[ciRun.length - 1]!.trim();
    const marked = shellBlocks.filter((b) => b.mode === "ci-command");
    expect(marked.length).toBeGreaterThan(0);
    for (const block of marked) {
      const commands = block.text.split("\n").filter((l) => l.trim() !== "" && !l.trim().startsWith("#"));
      expect(commands, `${block.readme}:${block.line}`).toEqual([ciCommand]);
    }
  });

  for (const block of shellBlocks.filter((b) => b.mode === "syntax")) {
    it(`${block.readme}:${block.line} parses (bash -n; not run: ${block.reason})`, async () => {
      const { code, output } = await runBash(["-n", "-c", block.text], repoRoot, process.env);
      expect(code, output).toBe(0);
    });
  }
});

/** Shell words of a block or script: comments dropped, `\\` continuations joined. */
const shellWords = (text: string): string[] =>
  text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.replace(/(^|\s)#.*$/, ""))
    .join(" ; ")
    .split(/\s+/)
    .filter((w) => w !== "");

/** The items of a YAML manifest's lists (`- item`), in order: a launcher command's words. */
const yamlListWords = (text: string): string[] =>
  text.split("\n").flatMap((line) => {
    const item = /^\s*-\s+("?)([^"#]*)\1\s*(#.*)?$/.exec(line);
    return item === null ? [";"] : [item[2]!.trim()];
  });

/** `mpiexec … npx craft` and `srun … npx craft` without MPICH's -pmi-port: npm closes the PMI socket on the way. */
const launchesThroughNpm = (words: readonly string[]): string | undefined => {
  for (let i = 0; i < words.length; i++) {
    if (!/^(mpiexec|mpirun|srun)$/.test(words[i]!)) continue;
    let j = i + 1;
    while (j < words.length && words[j] !== ";" && !/^(npx|npm|craft|node|node_modules\/\.bin\/craft)$/.test(words[j]!)) j++;
    const between = words.slice(i, j);
    if (/^(npx|npm)$/.test(words[j] ?? "") && !between.includes("-pmi-port")) return words.slice(i, j + 2).join(" ");
  }
  return undefined;
};

describe("data-parallel launch commands", () => {
  const launchDocs = readdirSync(path.join(repoRoot, "packages"))
    .map((pkg) => path.join("packages", pkg, "docs", "distributed"))
    .filter((dir) => existsSync(path.join(repoRoot, dir)))
    .flatMap((dir) => readdirSync(path.join(repoRoot, dir)).map((f) => path.join(dir, f)));

  it("start craft itself under mpiexec and srun, never through npx/npm (unless -pmi-port)", () => {
    const offenders: string[] = [];
    for (const block of allBlocks.filter((b) => SHELL_INFO.has(b.info))) {
      const found = launchesThroughNpm(shellWords(block.text));
      if (found !== undefined) offenders.push(`${block.readme}:${block.line}: ${found}`);
    }
    for (const file of launchDocs) {
      const text = readFileSync(path.join(repoRoot, file), "utf8");
      const words = /\.ya?ml$/.test(file) ? yamlListWords(text) : /\.(sbatch|sh)$/.test(file) ? shellWords(text) : [];
      const found = launchesThroughNpm(words);
      if (found !== undefined) offenders.push(`${file}: ${found}`);
    }
    expect(offenders).toEqual([]);
    expect(launchesThroughNpm(shellWords("mpiexec -n 2 npx craft train"))).toBe("mpiexec -n 2 npx craft");
    expect(launchesThroughNpm(yamlListWords("  - mpiexec\n  - -n\n  - \"4\"\n  - npx\n  - craft\n"))).toBe("mpiexec -n 4 npx craft");
    expect(launchesThroughNpm(shellWords("mpiexec -pmi-port -n 2 npx craft train"))).toBeUndefined();
  });

  it("mpiexec … npx craft fails with one line per rank that shows the commands that work, not MPICH's stack", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "craft-npx-mpi-"));
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!LAUNCHER_VARS.test(k)) env[k] = v;
    const { code, output } = await runBash(
      ["-c", `mpiexec -n 2 npx --no-install craft train --distributed=mpi --dataset.root=${out}/none --steps=2 --output_dir=${out}/run`],
      repoRoot,
      env,
    );
    expect(code, output).not.toBe(0);
    const lines = output.split("\n").filter((l) => l.trim() !== "");
    expect(lines.filter((l) => l.startsWith("error: distributed: mpiexec started this rank")), output).toHaveLength(2);
    for (const line of lines) expect(line).toContain("`mpiexec -n 2 node_modules/.bin/craft …`");
    expect(existsSync(path.join(out, "run"))).toBe(false);
  });

  for (const file of launchDocs.filter((f) => f.endsWith(".sbatch"))) {
    it(`${file} parses (bash -n; a Slurm batch script, not run in CI)`, async () => {
      const { code, output } = await runBash(["-n", path.join(repoRoot, file)], repoRoot, process.env);
      expect(code, output).toBe(0);
    });
  }
});

describe.sequential("README blocks run as written in a fresh copy, CRAFT_SMOKE=1", () => {
  let copy = "";
  let env: NodeJS.ProcessEnv = {};
  let previousReadme = "";
  let failures = 0;
  beforeAll(() => {
    if (shellBlocks.some((b) => b.mode === "run" && /\bmpiexec\b/.test(b.text))) {
      const probe = spawnSync("mpiexec", ["--version"], { encoding: "utf8" });
      if (probe.error !== undefined || probe.status !== 0) {
        throw new Error("mpiexec was not found: the READMEs' data-parallel command needs MPICH (apt-get install -y mpich libmpich-dev; .ci/run installs it)");
      }
    }
    copy = freshCopy();
    env = blockEnv(copy);
  });
  // A failed block's copy stays for inspection (its path is in the failure message).
  afterAll(async () => {
    if (copy !== "" && failures === 0) await rm(copy, { recursive: true, force: true });
  });

  for (const block of shellBlocks.filter((b) => b.mode === "run")) {
    it(
      `${block.readme}:${block.line}`,
      async () => {
        if (block.readme !== previousReadme) {
          for (const dir of ["data", "outputs"]) rmSync(path.join(copy, dir), { recursive: true, force: true });
          previousReadme = block.readme;
        }
        const { code, output } = await runBash(["-e", "-o", "pipefail", "-c", block.text], copy, env);
        if (code !== 0) failures++;
        expect(code, `${block.readme}:${block.line} failed in ${copy}:\n${tail(output)}`).toBe(0);
        expect(output).not.toMatch(/MPIR_pmi_init|Unable to write to PMI_fd/);
      },
      BLOCK_TIMEOUT_MS,
    );
  }
});
