import { writeSync } from "node:fs";
import { hostname } from "node:os";
import type { BroadcastBuffer, Communicator, ScalarReduction } from "./communicator.js";

const checkRoot = (root: number, size: number): void => {
  if (!Number.isInteger(root) || root < 0 || root >= size) {
    throw new Error(`broadcast: field \`root\`: expected an integer in [0, ${size}), got ${root}`);
  }
};

/**
 * The communicator of a process that runs alone: rank 0 of 1, every collective is the identity.
 * It never loads an MPI library, so training without MPI installed works as before.
 */
export const singleProcessCommunicator = (): Communicator => ({
  rank: 0,
  size: 1,
  backend: "single",
  isMainProcess: true,
  processes: [{ rank: 0, pid: process.pid, host: hostname() }],
  allreduceMean: (buf: Float32Array) => Promise.resolve(buf),
  allreduceSum: (buf: Float32Array) => Promise.resolve(buf),
  allreduceScalars: (values: readonly number[], _reduction: ScalarReduction = "mean") => Promise.resolve([...values]),
  broadcast: async <T extends BroadcastBuffer>(buf: T, root = 0): Promise<T> => {
    checkRoot(root, 1);
    return buf;
  },
  barrier: () => Promise.resolve(),
  abort: (code: number, message: string): never => {
    writeSync(2, `rank 0: ${message}\n`);
    process.exit(code);
  },
  finalize: () => Promise.resolve(),
});

export { checkRoot };
