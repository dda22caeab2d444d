import { join } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { DatasetError } from "./errors.js";
import type { DatasetMeta, EpisodeInfo } from "./metadata.js";

/** Why an episode list was refused: what it should have been and what it was. */
export interface EpisodeListProblem {
  readonly expected: string;
  readonly actual: string;
}

const EXPECTED = "a list of distinct episode indices such as [0,1,2], or one index such as 3";

/**
 * LeRobot's `episodes: list[int] | None` read from a flag or config value: `null`/absent is every
 * episode, one integer `3` is `[3]` (never 0..3), a list or a comma-separated string is taken as
 * it is. Ranges (`0-3`, `0:3`), negatives, non-integers, duplicates and an empty list are refused;
 * whether the indices exist is the dataset's to say (`selectEpisodes`).
 */
export const parseEpisodeList = (value: unknown): E.Either<EpisodeListProblem, readonly number[] | null> => {
  if (value === undefined || value === null) return E.right(null);
  const refuse = (why = "") => E.left({ expected: `${EXPECTED}${why}`, actual: JSON.stringify(value) });
  let items: unknown[];
  if (typeof value === "number") items = [value];
  else if (Array.isArray(value)) items = value;
  else if (typeof value === "string") {
    if (/^\s*\d+\s*(-|:|\.\.)\s*\d+\s*$/.test(value)) return refuse(" (ranges are not accepted: list the episodes)");
    items = value.split(",").map((s) => (/^\s*\d+\s*$/.test(s) ? Number(s) : s));
  } else return refuse();
  if (items.length === 0) return refuse(" (an empty list selects nothing; leave the option out for every episode)");
  if (!items.every((i): i is number => typeof i === "number" && Number.isInteger(i) && i >= 0)) return refuse(" (non-negative integers)");
  if (new Set(items).size !== items.length) return refuse(" (each episode once)");
  return E.right(items);
};

/**
 * The episodes of `meta` that `requested` names, in the order given (all of them when undefined).
 * A list that `parseEpisodeList` refuses, or an index the dataset does not have, is an error naming
 * the episodes metadata and the `episodes` option.
 */
export const selectEpisodes = (meta: DatasetMeta, requested: readonly number[] | undefined): EpisodeInfo[] => {
  if (requested === undefined) return [...meta.episodes];
  const file = meta.version === "v3.0" ? join(meta.root, "meta/episodes") : join(meta.root, "meta/episodes.jsonl");
  const parsed = parseEpisodeList(requested);
  if (E.isLeft(parsed)) throw new DatasetError("InvalidOption", { file, field: "episodes", ...parsed.left });
  const byIndex = new Map(meta.episodes.map((e) => [e.episodeIndex, e]));
  const available = meta.episodes.map((e) => e.episodeIndex);
  const range = available.length === 0 ? "none" : `${Math.min(...available)}..${Math.max(...available)}`;
  return requested.map((i) => {
    const ep = byIndex.get(i);
    if (ep === undefined) throw new DatasetError("EpisodeOutOfRange", { file, field: "episodes", expected: `episode indices in ${range}`, actual: String(i) });
    return ep;
  });
};
