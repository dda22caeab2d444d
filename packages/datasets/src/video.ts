import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { cpus } from "node:os";
import { DatasetError } from "./errors.js";

/** What ffprobe says about a video's first stream. */
export interface VideoProbe {
  readonly width: number;
  readonly height: number;
  readonly codec: string;
  readonly duration: number;
}

let ffmpegChecked: boolean | undefined;
/** Whether `ffmpeg` and `ffprobe` are on PATH. */
export const hasFfmpeg = (): boolean => {
  if (ffmpegChecked === undefined) {
    const a = spawnSync("ffmpeg", ["-version"], { stdio: "ignore" });
    const b = spawnSync("ffprobe", ["-version"], { stdio: "ignore" });
    ffmpegChecked = a.status === 0 && b.status === 0;
  }
  return ffmpegChecked;
};

const requireFfmpeg = (file: string, field: string): void => {
  if (!hasFfmpeg()) {
    throw new DatasetError("FfmpegMissing", { file, field, expected: "ffmpeg and ffprobe on PATH to decode/encode video", hint: "apt-get install ffmpeg" });
  }
};

const probes = new Map<string, VideoProbe>();

/**
 * Probe a video file once (cached while its size and mtime stay the same): size, codec, duration.
 * Fails clearly on a missing or truncated file.
 */
export const probeVideo = (file: string, field: string): VideoProbe => {
  if (!existsSync(file)) throw new DatasetError("MissingFile", { file, field, expected: "an existing MP4 video file" });
  const { size, mtimeMs } = statSync(file);
  const key = `${file}\0${size}\0${mtimeMs}`;
  const cached = probes.get(key);
  if (cached !== undefined) return cached;
  requireFfmpeg(file, field);
  const r = spawnSync("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height,codec_name:format=duration", "-of", "json", file], { encoding: "utf8" });
  let parsed: { streams?: { width?: number; height?: number; codec_name?: string }[]; format?: { duration?: string } } = {};
  try {
    parsed = JSON.parse(r.stdout || "{}");
  } catch {
    /* reported below */
  }
  const s = parsed.streams?.[0];
  const duration = Number(parsed.format?.duration);
  if (r.status !== 0 || s?.width === undefined || s.height === undefined || !Number.isFinite(duration)) {
    throw new DatasetError("CorruptVideo", { file, field, expected: "a readable video with one video stream", actual: (r.stderr || "no video stream").trim().split("\n")[0] });
  }
  const probe = { width: s.width, height: s.height, codec: s.codec_name ?? "?", duration };
  probes.set(key, probe);
  return probe;
};

export interface DecodeRequest {
  readonly file: string;
  readonly field: string;
  /** Presentation time of the first frame wanted (seconds in the file). */
  readonly start: number;
  readonly numFrames: number;
  readonly fps: number;
  /** Output size; ffmpeg scales (area filter) when it differs from the stream. */
  readonly width: number;
  readonly height: number;
}

/** What one ffmpeg run produced: whole frames only; fewer than asked when the file ended early. */
export interface DecodedFrames {
  readonly data: Uint8Array;
  readonly frames: number;
  readonly stderr: string;
  readonly exitCode: number | null;
}

/**
 * Decode up to `numFrames` consecutive frames starting at `start` with one ffmpeg process writing
 * rawvideo rgb24 to a pipe. Seeks half a frame early so float rounding of `start` never drops
 * the wanted frame (ffmpeg's accurate seek discards frames before the seek point).
 */
export const decodeFrames = (req: DecodeRequest, onFrames?: (frames: number, data: Uint8Array) => void): Promise<DecodedFrames> => {
  requireFfmpeg(req.file, req.field);
  const seek = Math.max(0, req.start - 0.5 / req.fps);
  const frameBytes = req.width * req.height * 3;
  const args = ["-v", "error", "-nostdin", "-ss", seek.toFixed(6), "-i", req.file, "-frames:v", String(req.numFrames), "-fps_mode", "passthrough"];
  args.push("-vf", `scale=${req.width}:${req.height}:flags=area`);
  args.push("-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1");
  return new Promise((resolve, reject) => {
    const child = spawn("ffmpeg", args, { stdio: ["ignore", "pipe", "pipe"] });
    const out = Buffer.allocUnsafe(frameBytes * req.numFrames);
    let filled = 0;
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      const n = Math.min(chunk.length, out.length - filled);
      chunk.copy(out, filled, 0, n);
      const before = Math.floor(filled / frameBytes);
      filled += n;
      const now = Math.floor(filled / frameBytes);
      if (onFrames !== undefined && now > before) onFrames(now, out);
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.on("error", (e) => reject(new DatasetError("FfmpegMissing", { file: req.file, field: req.field, expected: "a runnable ffmpeg", actual: e.message })));
    child.on("close", (code) => {
      const frames = Math.floor(filled / frameBytes);
      resolve({ data: new Uint8Array(out.buffer, out.byteOffset, frames * frameBytes), frames, stderr, exitCode: code });
    });
  });
};

/**
 * Decoded windows of consecutive frames of a video file (aligned to `windowFrames`, across episode
 * boundaries in v3.0's shared files), an LRU bounded in bytes. One ffmpeg process per window;
 * concurrent requests for one window share it. Process start-up dominates small windows
 * (~0.2 s for Debian's ffmpeg), so sequential readers want large windows, random readers small ones.
 */
export class VideoWindowCache {
  private readonly windows = new Map<string, DecodingWindow>();
  private bytes = 0;
  private readonly slots: Slots;

  constructor(
    readonly windowFrames: number,
    readonly maxBytes: number,
    /** ffmpeg processes running at once (a shuffled batch can touch many windows). */
    maxProcesses = Math.max(2, cpus().length),
  ) {
    this.slots = new Slots(maxProcesses);
  }

  /** RGB frame number `fileFrame` (0-based, at fileFrame/fps) of a file holding `fileFrames` frames. */
  frame(file: string, field: string, fileFrame: number, fileFrames: number, fps: number, width: number, height: number): Promise<Uint8Array> {
    const w = Math.floor(fileFrame / this.windowFrames);
    const first = w * this.windowFrames;
    const count = Math.max(1, Math.min(this.windowFrames, fileFrames - first));
    const key = `${file}|${w}|${width}x${height}`;
    let win = this.windows.get(key);
    if (win === undefined) {
      win = new DecodingWindow({ file, field, start: first / fps, numFrames: count, fps, width, height }, first, () => this.evict(key), this.slots);
      this.windows.set(key, win);
      this.bytes += win.size;
      this.trim(key);
    } else {
      this.windows.delete(key); // refresh LRU order
      this.windows.set(key, win);
    }
    return win.frame(fileFrame - first);
  }

  private evict(key: string): void {
    const win = this.windows.get(key);
    if (win === undefined) return;
    this.windows.delete(key);
    this.bytes -= win.size;
  }

  private trim(keep: string): void {
    for (const key of this.windows.keys()) {
      if (this.bytes <= this.maxBytes) break;
      if (key !== keep) this.evict(key);
    }
  }

  clear(): void {
    this.windows.clear();
    this.bytes = 0;
  }
}

/** A counting semaphore: at most `n` tasks run at once, the rest wait in FIFO order. */
class Slots {
  private running = 0;
  private readonly queue: (() => void)[] = [];
  constructor(private readonly n: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.n) await new Promise<void>((r) => this.queue.push(r));
    this.running++;
    try {
      return await task();
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }
}

/** One window being decoded: frames are handed out as soon as ffmpeg has written them. */
class DecodingWindow {
  readonly size: number;
  private ready = 0;
  private data: Uint8Array | undefined;
  private result: DecodedFrames | undefined;
  private failure: unknown;
  private waiters: { k: number; resolve: (f: Uint8Array) => void; reject: (e: unknown) => void }[] = [];
  private readonly frameBytes: number;

  constructor(
    private readonly req: DecodeRequest,
    private readonly first: number,
    private readonly onFail: () => void,
    slots: Slots,
  ) {
    this.frameBytes = req.width * req.height * 3;
    this.size = req.numFrames * this.frameBytes;
    slots
      .run(() =>
        decodeFrames(req, (frames, data) => {
          this.ready = frames;
          this.data = data;
          this.flush();
        }),
      )
      .then(
      (r) => {
        this.result = r;
        this.ready = r.frames;
        this.data = r.data;
        this.flush();
      },
      (e) => {
        this.failure = e;
        this.onFail();
        this.flush();
      },
    );
  }

  private slice(k: number): Uint8Array {
    return this.data!.subarray(k * this.frameBytes, (k + 1) * this.frameBytes);
  }

  private error(k: number): unknown {
    if (this.failure !== undefined) return this.failure;
    const r = this.result!;
    const frame = this.first + k;
    return new DatasetError("CorruptVideo", {
      file: this.req.file,
      field: this.req.field,
      expected: `a frame at t=${(frame / this.req.fps).toFixed(4)} s (frame ${frame})`,
      actual: `the stream ended after ${this.first + r.frames} frames (ffmpeg exit ${r.exitCode}${r.stderr ? `: ${r.stderr.trim().split("\n")[0]}` : ""}); truncated or shorter than the episode table says`,
    });
  }

  private flush(): void {
    const finished = this.result !== undefined || this.failure !== undefined;
    if (finished && (this.failure !== undefined || this.result!.frames < this.req.numFrames)) this.onFail();
    this.waiters = this.waiters.filter((w) => {
      if (w.k < this.ready && this.failure === undefined) w.resolve(this.slice(w.k));
      else if (finished) w.reject(this.error(w.k));
      else return true;
      return false;
    });
  }

  frame(k: number): Promise<Uint8Array> {
    if (k < this.ready && this.failure === undefined) return Promise.resolve(this.slice(k));
    if (this.result !== undefined || this.failure !== undefined) return Promise.reject(this.error(k));
    return new Promise((resolve, reject) => this.waiters.push({ k, resolve, reject }));
  }
}

/** Video codecs the writer can use, best first (LeRobot's default is SVT-AV1). */
export type VideoCodec = "libsvtav1" | "libaom-av1" | "libx264";

/** The best available encoder in this ffmpeg build for frames of this size (SVT-AV1 needs ≥ 64×64). */
export const pickVideoCodec = (width = 64, height = 64): VideoCodec => {
  const r = spawnSync("ffmpeg", ["-hide_banner", "-encoders"], { encoding: "utf8" });
  const text = r.stdout ?? "";
  for (const c of ["libsvtav1", "libaom-av1", "libx264"] as const) {
    if (c === "libsvtav1" && (width < 64 || height < 64)) continue;
    if (text.includes(` ${c} `)) return c;
  }
  throw new DatasetError("FfmpegMissing", { file: "ffmpeg", field: "encoders", expected: "libsvtav1, libaom-av1 or libx264" });
};

const codecArgs = (codec: VideoCodec): string[] => {
  switch (codec) {
    case "libsvtav1":
      return ["-c:v", "libsvtav1", "-g", "2", "-crf", "30", "-preset", "10"];
    case "libaom-av1":
      return ["-c:v", "libaom-av1", "-g", "2", "-crf", "30", "-cpu-used", "8", "-row-mt", "1"];
    case "libx264":
      return ["-c:v", "libx264", "-g", "2", "-crf", "18", "-preset", "veryfast"];
  }
};

/** Encode RGB frames [height, width, 3] into an MP4 at `fps`, one ffmpeg process fed through a pipe. */
export const encodeVideo = async (
  file: string,
  frames: Iterable<Uint8Array>,
  opts: { width: number; height: number; fps: number; codec?: VideoCodec },
): Promise<void> => {
  requireFfmpeg(file, "video");
  mkdirSync(dirname(file), { recursive: true });
  const codec = opts.codec ?? pickVideoCodec(opts.width, opts.height);
  const args = ["-v", "error", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", `${opts.width}x${opts.height}`, "-r", String(opts.fps), "-i", "pipe:0", ...codecArgs(codec), "-pix_fmt", "yuv420p", "-movflags", "+faststart", file];
  const child = spawn("ffmpeg", args, { stdio: ["pipe", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const done = new Promise<number>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? -1));
  });
  const frameBytes = opts.width * opts.height * 3;
  for (const f of frames) {
    if (f.length !== frameBytes) {
      child.stdin.destroy();
      throw new DatasetError("InvalidOption", { file, field: "frames", expected: `${opts.width}x${opts.height}x3 RGB bytes per frame (${frameBytes})`, actual: `${f.length}` });
    }
    if (!child.stdin.write(f)) await new Promise((r) => child.stdin.once("drain", r));
  }
  child.stdin.end();
  const code = await done;
  if (code !== 0) {
    const lines = stderr.trim().split("\n");
    const why = lines.find((l) => /error/i.test(l)) ?? lines[lines.length - 1] ?? `exit ${code}`;
    throw new DatasetError("CorruptVideo", { file, field: "video", expected: `ffmpeg (${codec}) to encode ${opts.width}x${opts.height} frames`, actual: why });
  }
};
