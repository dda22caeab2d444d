/** Bad files at the policy package's boundary are PolicyErrors naming the file, the field and the expected value. */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PolicyError, isPolicyError, loadFastTokenizer, loadHfTokenizer, loadPi0FastPolicy, pi0FastConfig, readSafetensors } from "../src/index";

const tmp = () => mkdtempSync(join(tmpdir(), "policy-errors-"));

const thrown = async (f: () => unknown): Promise<PolicyError> => {
  try {
    await f();
  } catch (e) {
    if (isPolicyError(e)) return e;
    throw e;
  }
  throw new Error("expected a PolicyError, nothing was thrown");
};

/** A safetensors file with the header given (padded to 8 bytes) and `dataBytes` zero bytes after it. */
const withHeader = (path: string, header: unknown, dataBytes: number): string => {
  let json = JSON.stringify(header);
  while (json.length % 8 !== 0) json += " ";
  const bytes = new Uint8Array(8 + json.length + dataBytes);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(new TextEncoder().encode(json), 8);
  writeFileSync(path, bytes);
  return path;
};

describe("PolicyError at the policy package's boundary", () => {
  it("a safetensors tensor whose offsets disagree with its shape is InvalidSafetensors on <tensor>.data_offsets", async () => {
    const path = withHeader(join(tmp(), "bad.safetensors"), { w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, 8);
    const e = await thrown(() => readSafetensors(path));
    expect(e._tag).toBe("InvalidSafetensors");
    expect(e.file).toBe(path);
    expect(e.field).toBe("w.data_offsets");
    expect(e.expected).toBe("a span of 12 bytes");
    expect(e.message).toBe(`${path}: tensor "w": F32 [3] needs 12 bytes, data_offsets span 8`);
  });

  it("an ill-typed config value is InvalidConfig naming the field and the codec's type", async () => {
    const e = await thrown(() => pi0FastConfig({ chunk_size: "ten" }));
    expect(e._tag).toBe("InvalidConfig");
    expect(e.file).toBeUndefined();
    expect(e.field).toBe("policy.chunk_size");
    expect(e.expected).toBe("positive integer");
    expect(e.message).toBe('invalid pi0_fast config:\n  policy.chunk_size: expected positive integer, got "ten"');
  });

  it("a pretrained_model folder whose config.json is not pi0_fast is InvalidConfig on `type`", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "config.json"), JSON.stringify({ type: "act" }));
    const e = await thrown(() => loadPi0FastPolicy(dir));
    expect(e._tag).toBe("InvalidConfig");
    expect(e.file).toBe(join(dir, "config.json"));
    expect(e.field).toBe("type");
    expect(e.expected).toBe('"pi0_fast"');
  });

  it("a pretrained_model folder without its normaliser statistics is InvalidCheckpoint naming policy_preprocessor.json", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "config.json"), JSON.stringify(pi0FastConfig({ preset: "tiny" })));
    const e = await thrown(() => loadPi0FastPolicy(dir));
    expect(e._tag).toBe("InvalidCheckpoint");
    expect(e.file).toBe(join(dir, "policy_preprocessor.json"));
    expect(e.field).toBe("(file)");
    expect(e.expected).toBe("the normaliser statistics");
  });

  it("a FAST tokenizer directory without its files is InvalidTokenizer naming the missing file", async () => {
    const dir = join(tmp(), "action_tokenizer");
    mkdirSync(dir);
    const e = await thrown(() => loadFastTokenizer(dir));
    expect(e._tag).toBe("InvalidTokenizer");
    expect(e.file).toMatch(new RegExp(`^${dir}/`));
    expect(e.field).toBe("(file)");
  });

  it("a tokenizer.json without <bos> is InvalidTokenizer on added_tokens", async () => {
    const path = join(tmp(), "tokenizer.json");
    writeFileSync(
      path,
      JSON.stringify({
        version: "1.0",
        added_tokens: [],
        model: { type: "WordLevel", vocab: { a: 0, "<unk>": 1 }, unk_token: "<unk>" },
        normalizer: null,
        pre_tokenizer: null,
        post_processor: null,
        decoder: null,
        truncation: null,
        padding: null,
      }),
    );
    const e = await thrown(() => loadHfTokenizer(path));
    expect(e._tag).toBe("InvalidTokenizer");
    expect(e.file).toBe(path);
    expect(e.field).toBe("added_tokens");
    expect(e.expected).toBe('a "<bos>" (or "<s>") token');
  });
});
