/**
 * Pareto dominance for two objectives that are both maximised (success rates; losses enter negated).
 * A point is on the front when no other point is at least as good in both and better in one.
 */
export interface ParetoPoint {
  readonly x: number;
  readonly y: number;
}

export const dominates = (a: ParetoPoint, b: ParetoPoint): boolean => a.x >= b.x && a.y >= b.y && (a.x > b.x || a.y > b.y);

/** The non-dominated points, ordered by x (the line a Pareto plot draws through them). */
export function paretoFront<P extends ParetoPoint>(points: readonly P[]): P[] {
  return points.filter((p) => !points.some((q) => dominates(q, p))).sort((a, b) => a.x - b.x || b.y - a.y);
}

/** The points of `candidates` that some point of `front` dominates: those lying behind that front. */
export const dominatedBy = <P extends ParetoPoint>(candidates: readonly P[], front: readonly ParetoPoint[]): P[] =>
  candidates.filter((c) => front.some((f) => dominates(f, c)));
