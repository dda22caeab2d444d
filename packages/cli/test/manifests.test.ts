/**
 * The cluster manifests under packages/trainer/docs/distributed cannot run in CI (no Kubernetes), so
 * they are validated instead: each parses as YAML, each document has the fields its kind needs (the
 * Kubeflow MPI Operator's MPIJob v2beta1, Kubeflow Trainer's TrainingRuntime and TrainJob), and the
 * numbers that must agree do (mpiexec's -n = ranks the job starts; the TrainJob names its runtime).
 * The Slurm script is checked with `bash -n` by readme.test.ts.
 */
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";

const docsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "trainer", "docs", "distributed");

const Container = t.type({ name: t.string, image: t.string });
const PodTemplate = t.type({ spec: t.type({ containers: t.array(Container) }) });
const Command = t.array(t.string);
const Metadata = t.type({ name: t.string });

const MPIJob = t.type({
  apiVersion: t.literal("kubeflow.org/v2beta1"),
  kind: t.literal("MPIJob"),
  metadata: Metadata,
  spec: t.type({
    slotsPerWorker: t.number,
    mpiImplementation: t.literal("MPICH"),
    mpiReplicaSpecs: t.type({
      Launcher: t.type({ replicas: t.literal(1), template: t.type({ spec: t.type({ containers: t.array(t.intersection([Container, t.type({ command: Command })])) }) }) }),
      Worker: t.type({ replicas: t.number, template: PodTemplate }),
    }),
  }),
});

const TrainingRuntime = t.type({
  apiVersion: t.literal("trainer.kubeflow.org/v1alpha1"),
  kind: t.literal("TrainingRuntime"),
  metadata: Metadata,
  spec: t.type({
    mlPolicy: t.type({ numNodes: t.number, mpi: t.type({ numProcPerNode: t.number, mpiImplementation: t.literal("MPICH") }) }),
    template: t.type({ spec: t.type({ replicatedJobs: t.array(t.type({ name: t.string, template: t.type({ spec: t.type({ template: PodTemplate }) }) })) }) }),
  }),
});

const TrainJob = t.type({
  apiVersion: t.literal("trainer.kubeflow.org/v1alpha1"),
  kind: t.literal("TrainJob"),
  metadata: Metadata,
  spec: t.type({
    runtimeRef: t.type({ name: t.string, kind: t.literal("TrainingRuntime") }),
    trainer: t.type({ numNodes: t.number, command: Command }),
  }),
});

const decode = <A>(codec: t.Type<A>, value: unknown, where: string): A => {
  const result = codec.decode(value);
  if (E.isLeft(result)) {
    const paths = result.left.map((e) => e.context.map((c) => c.key).filter((k) => k !== "").join("."));
    throw new Error(`${where}: not a valid ${codec.name}: ${[...new Set(paths)].join(", ")}`);
  }
  return result.right;
};

/** mpiexec's rank count and the craft sub-command it starts. */
const launch = (command: readonly string[]): { ranks: number; craft: readonly string[] } => {
  expect(command[0]).toBe("mpiexec");
  const n = command.indexOf("-n");
  expect(n).toBeGreaterThan(0);
  const bin = command.findIndex((w) => /(^|\/)craft$/.test(w));
  expect(bin).toBeGreaterThan(n);
  return { ranks: Number(command[n + 1]), craft: command.slice(bin + 1) };
};

const documents = (file: string): unknown[] => {
  const docs = parseAllDocuments(readFileSync(path.join(docsDir, file), "utf8"));
  for (const doc of docs) expect(doc.errors.map((e) => `${file}: ${e.message}`)).toEqual([]);
  return docs.map((d) => d.toJS() as unknown);
};

describe("cluster manifests (validated, not run)", () => {
  it("every manifest in docs/distributed is checked here", () => {
    expect(readdirSync(docsDir).filter((f) => /\.ya?ml$/.test(f)).sort()).toEqual(["mpijob.yaml", "trainjob.yaml"]);
  });

  it("mpijob.yaml is an MPIJob whose mpiexec starts one rank per worker slot, running craft train with --distributed=mpi", () => {
    const [doc, ...rest] = documents("mpijob.yaml");
    expect(rest).toEqual([]);
    const job = decode(MPIJob, doc, "mpijob.yaml");
    const { ranks, craft } = launch(job.spec.mpiReplicaSpecs.Launcher.template.spec.containers[0]!.command);
    expect(ranks).toBe(job.spec.mpiReplicaSpecs.Worker.replicas * job.spec.slotsPerWorker);
    expect(craft[0]).toBe("train");
    expect(craft).toContain("--distributed=mpi");
    expect(craft.every((w, i) => i === 0 || /^--[a-z_]+(\.[a-z_]+)*=.+$/.test(w))).toBe(true);
  });

  it("trainjob.yaml is a TrainingRuntime and a TrainJob that names it, with mpiexec's -n = nodes × processes per node", () => {
    const docs = documents("trainjob.yaml");
    expect(docs).toHaveLength(2);
    const runtime = decode(TrainingRuntime, docs[0], "trainjob.yaml (document 1)");
    const job = decode(TrainJob, docs[1], "trainjob.yaml (document 2)");
    expect(job.spec.runtimeRef.name).toBe(runtime.metadata.name);
    const { ranks, craft } = launch(job.spec.trainer.command);
    expect(ranks).toBe(job.spec.trainer.numNodes * runtime.spec.mlPolicy.mpi.numProcPerNode);
    expect(job.spec.trainer.numNodes).toBe(runtime.spec.mlPolicy.numNodes);
    expect(craft[0]).toBe("train");
    expect(craft).toContain("--distributed=mpi");
  });

  it("a manifest with a missing field is refused, naming it", () => {
    expect(() => decode(TrainJob, { apiVersion: "trainer.kubeflow.org/v1alpha1", kind: "TrainJob", metadata: { name: "x" }, spec: { trainer: { numNodes: 1, command: [] } } }, "bad.yaml")).toThrow(
      /bad\.yaml: not a valid .*spec\.runtimeRef/,
    );
  });
});
