import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, writeFileSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { buildSync } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unreachablePmi } from "../src/distributed/mpiLibrary.js";

const thisFile = fileURLToPath(import.meta.url);
const here = path.dirname(thisFile);
const packageDir = path.resolve(here, "..");
const hydra = (fd: number | string): NodeJS.ProcessEnv => ({ PMI_FD: String(fd), PMI_RANK: "1", PMI_SIZE: "2" });

describe("PMI connection check before MPI_Init", () => {
  it("is silent without PMI_FD (no launcher, Open MPI, or mpiexec -pmi-port)", () => {
    expect(unreachablePmi({})).toBeUndefined();
    expect(unreachablePmi({ PMI_PORT: "vm:46865", PMI_ID: "0" })).toBeUndefined();
  });

  it("names a closed PMI_FD and shows both commands that work", () => {
    const fd = openSync(thisFile, "r");
    closeSync(fd);
    const message = unreachablePmi(hydra(fd));
    expect(message).toContain(`PMI_FD=${fd} is not open in this process (EBADF)`);
    expect(message).toContain("PMI_RANK=1 PMI_SIZE=2");
    expect(message).toContain("`mpiexec -n 2 node_modules/.bin/craft …`");
    expect(message).toContain("`mpiexec -pmi-port -n 2 npx craft …`");
    expect(message).not.toContain("\n");
  });

  it("rejects a PMI_FD that a launcher reused for a file", () => {
    const fd = openSync(thisFile, "r");
    try {
      expect(unreachablePmi(hydra(fd))).toContain(`PMI_FD=${fd} is open here but is not a socket`);
    } finally {
      closeSync(fd);
    }
    expect(unreachablePmi(hydra("six"))).toContain("PMI_FD=six is not a descriptor number");
  });

  describe("with a socket on PMI_FD", () => {
    let server: Server;
    let client: Socket;
    beforeAll(async () => {
      const dir = mkdtempSync(path.join(tmpdir(), "craft-pmi-"));
      const address = path.join(dir, "pmi.sock");
      server = createServer(() => undefined);
      await new Promise<void>((resolve) => server.listen(address, resolve));
      client = connect(address);
      await new Promise<void>((resolve) => client.on("connect", resolve));
    });
    afterAll(() => {
      client.destroy();
      server.close();
    });
    it("accepts it", () => {
      const fd = (client as unknown as { _handle: { fd: number } })._handle.fd;
      expect(fd).toBeGreaterThan(2);
      expect(unreachablePmi(hydra(fd))).toBeUndefined();
    });
  });
});

describe("under MPICH's mpiexec", () => {
  let probe = "";
  beforeAll(() => {
    const version = spawnSync("mpiexec", ["--version"], { encoding: "utf8" });
    if (version.error !== undefined || version.status !== 0) {
      throw new Error("mpiexec was not found: this test needs MPICH. Install it with `apt-get install -y mpich libmpich-dev` (Debian/Ubuntu).");
    }
    const cache = path.join(packageDir, "node_modules", ".cache", "pmi-probe");
    mkdirSync(cache, { recursive: true });
    const entry = path.join(cache, "entry.ts");
    writeFileSync(entry, `import { unreachablePmi } from ${JSON.stringify(path.join(packageDir, "src", "distributed", "mpiLibrary.ts"))};\nconsole.log("PMI " + JSON.stringify(unreachablePmi() ?? "reachable"));\n`);
    probe = path.join(cache, "probe.mjs");
    buildSync({ entryPoints: [entry], bundle: true, platform: "node", format: "esm", target: "node20", external: ["koffi"], outfile: probe, logLevel: "error" });
  });

  const launch = (args: string[]): string[] => {
    const run = spawnSync("mpiexec", args, { encoding: "utf8", cwd: packageDir });
    expect(run.status, run.stderr).toBe(0);
    return run.stdout.split("\n").filter((l) => l.startsWith("PMI ")).map((l) => JSON.parse(l.slice(4)) as string);
  };

  it("finds the PMI socket when node is started directly", () => {
    expect(launch(["-n", "2", process.execPath, probe])).toEqual(["reachable", "reachable"]);
  });

  it("reports the socket npx closed, and -pmi-port works through npx", () => {
    const throughNpx = launch(["-n", "2", "npx", "--no-install", "node", probe]);
    expect(throughNpx).toHaveLength(2);
    for (const line of throughNpx) expect(line).toMatch(/^distributed: mpiexec started this rank .* PMI_FD=\d+ is (not open in this process|open here but is not a socket)/);
    expect(launch(["-pmi-port", "-n", "2", "npx", "--no-install", "node", probe])).toEqual(["reachable", "reachable"]);
  });
});
