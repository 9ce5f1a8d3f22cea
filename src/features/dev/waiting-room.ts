/**
 * Development-only: everyone an event's waiting room placed, read from each of its shard objects, in
 * number order (the order the queue admits in). The `waiting-room` benchmark compares it with the
 * order its buyers arrived in.
 */
import { LIMITS } from "../../config/limits";
import { DomainError } from "../../lib/errors";
import { findEvent } from "../events";

export async function queueEntrants(env: Env, eventId: string) {
  if (!(await findEvent(env.DB, eventId))) throw new DomainError("not-found", "No such event.");
  const shards = await Promise.all(
    Array.from({ length: LIMITS.waitingRoomShards }, (_, k) =>
      env.WAITING_ROOM.getByName(`${eventId}:${k}`).entrants(),
    ),
  );
  // Numbered first, in number order; anyone not numbered yet last, by arrival.
  const entrants = shards
    .flat()
    .sort(
      (a, b) =>
        (a.number ?? Number.POSITIVE_INFINITY) - (b.number ?? Number.POSITIVE_INFINITY) || a.arrivedAt - b.arrivedAt,
    );
  return { shards: LIMITS.waitingRoomShards, entrants };
}
