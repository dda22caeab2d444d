import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { join, relative } from "node:path";

/**
 * A Hugging Face Hub on 127.0.0.1, as far as @huggingface/hub talks to it:
 * - downloads (snapshotDownload, downloadFileToCacheDir): revision info, tree, paths-info, resolve
 *   with Range, for model repos given as local folders at one commit;
 * - uploads (repoExists, createRepo, uploadFiles): repo lookup, /api/repos/create, preupload
 *   (*.safetensors go through LFS, as the Hub decides for binaries), the LFS batch API with a
 *   "basic" PUT, and the ndjson commit. `pushed` holds what arrived, path → bytes.
 */
export interface FakeHub {
  readonly url: string;
  readonly server: Server;
  /** "METHOD /path" of every request, in order. */
  readonly requests: string[];
  /** Files committed per repo id, path → bytes. */
  readonly pushed: Map<string, Map<string, Buffer>>;
  /** Authorization headers seen on uploads. */
  readonly tokens: Set<string>;
  close(): Promise<void>;
}

export const FAKE_HUB_COMMIT = "89abcdef0123456789abcdef0123456789abcdef";

/** Every file under `folder`, relative path → bytes. */
export function filesUnder(folder: string, dir = folder): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) Object.assign(out, filesUnder(folder, path));
    else out[relative(folder, path)] = readFileSync(path);
  }
  return out;
}

const body = (req: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });

/** `models`: repo id → local folder served as its files at FAKE_HUB_COMMIT. */
export async function fakeHub(models: Readonly<Record<string, string>> = {}): Promise<FakeHub> {
  const served = Object.fromEntries(Object.entries(models).map(([id, folder]) => [id, filesUnder(folder)]));
  const requests: string[] = [];
  const pushed = new Map<string, Map<string, Buffer>>();
  const tokens = new Set<string>();
  const lfs = new Map<string, Buffer>();
  const oid = (b: Buffer) => createHash("sha1").update(b).digest("hex");
  const server = createServer(async (req, res) => {
    const url = new URL(req.url!, `http://${req.headers.host}`);
    const path = decodeURIComponent(url.pathname);
    requests.push(`${req.method} ${path}`);
    const json = (value: unknown, status = 200) => res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(value));
    if (req.headers.authorization) tokens.add(req.headers.authorization);

    // uploads
    if (req.method === "POST" && path === "/api/repos/create") {
      const { name, organization } = JSON.parse((await body(req)).toString());
      const id = `${organization}/${name}`;
      pushed.set(id, pushed.get(id) ?? new Map());
      return json({ url: `${url.origin}/${id}`, name: id, id });
    }
    const api = /^\/api\/models\/([^/]+\/[^/]+)(\/.*)?$/.exec(path);
    if (req.method === "GET" && api && api[2] === undefined) return pushed.has(api[1]!) || served[api[1]!] ? json({ id: api[1] }) : json({ error: "Repository not found" }, 404);
    if (req.method === "POST" && api?.[2] === "/preupload/main") {
      const { files } = JSON.parse((await body(req)).toString()) as { files: { path: string }[] };
      return json({ files: files.map((f) => ({ path: f.path, uploadMode: f.path.endsWith(".safetensors") ? "lfs" : "regular" })) });
    }
    const batch = /^\/([^/]+\/[^/]+)\.git\/info\/lfs\/objects\/batch$/.exec(path);
    if (req.method === "POST" && batch) {
      const { objects } = JSON.parse((await body(req)).toString()) as { objects: { oid: string; size: number }[] };
      return json({ transfer: "basic", objects: objects.map((o) => ({ ...o, actions: { upload: { href: `${url.origin}/lfs-store/${o.oid}` } } })) });
    }
    if (req.method === "PUT" && path.startsWith("/lfs-store/")) {
      const data = await body(req);
      const sha = path.slice("/lfs-store/".length);
      if (createHash("sha256").update(data).digest("hex") !== sha) return json({ error: "sha256 mismatch" }, 400);
      lfs.set(sha, data);
      return res.writeHead(200).end();
    }
    if (req.method === "POST" && api?.[2] === "/commit/main") {
      const files = pushed.get(api[1]!) ?? new Map<string, Buffer>();
      for (const line of (await body(req)).toString().split("\n")) {
        const { key, value } = JSON.parse(line) as { key: string; value: { path: string; content?: string; oid?: string } };
        if (key === "file") files.set(value.path, Buffer.from(value.content!, "base64"));
        if (key === "lfsFile") {
          const data = lfs.get(value.oid!);
          if (data === undefined) return json({ error: `LFS object ${value.oid} was never uploaded` }, 400);
          files.set(value.path, data);
        }
      }
      pushed.set(api[1]!, files);
      return json({ commitOid: FAKE_HUB_COMMIT, commitUrl: `${url.origin}/${api[1]}/commit/${FAKE_HUB_COMMIT}` });
    }

    // downloads
    const repo = api ? served[api[1]!] : undefined;
    const entry = (f: string) => ({ type: "file", path: f, oid: oid(repo![f]!), size: repo![f]!.length, lastCommit: { id: FAKE_HUB_COMMIT } });
    if (repo && api?.[2] === "/revision/main") return json({ _id: "1", id: api[1], sha: FAKE_HUB_COMMIT, private: false });
    if (repo && api?.[2] === `/tree/${FAKE_HUB_COMMIT}`) return json(Object.keys(repo).map(entry));
    if (repo && req.method === "POST" && api?.[2] === `/paths-info/${FAKE_HUB_COMMIT}`) {
      const paths = JSON.parse((await body(req)).toString()).paths as string[];
      return json(paths.filter((p) => repo[p] !== undefined).map(entry));
    }
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/[0-9a-f]{40}\/(.+)$/.exec(path);
    const file = resolve ? served[resolve[1]!]?.[resolve[2]!] : undefined;
    if (file === undefined) return res.writeHead(404).end();
    const range = /bytes=(\d+)-(\d*)/.exec(req.headers.range ?? "");
    const start = range ? Number(range[1]) : 0;
    const end = range && range[2] !== "" ? Number(range[2]) : file.length - 1;
    res.writeHead(range ? 206 : 200, {
      "Content-Range": `bytes ${start}-${end}/${file.length}`,
      "Content-Length": String(end - start + 1),
      ETag: `"${oid(file)}"`,
    });
    res.end(file.subarray(start, end + 1));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    server,
    requests,
    pushed,
    tokens,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
