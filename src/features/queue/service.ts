/**
 * Joining an event's waiting room (POST /api/v1/events/:id/queue): the buyer's place, and a pass once
 * they are in. The queue is spread over LIMITS.waitingRoomShards WaitingRoom objects; a buyer always
 * lands on the same one (hash of the user id), so joining again is a poll that finds the same number.
 * The event comes from the order path's per-isolate copy (src/features/events/orderable.ts), so a join
 * costs one object call and, every couple of seconds per isolate, one D1 read. The shard call has a
 * deadline: a shard that is overloaded or does not answer in time is a 503 with Retry-After.
 */
import type { JoinAnswer, WaitingRoom } from "../../../durable-objects/waiting-room/contract";
import type { SigningKey } from "../../config";
import { LIMITS } from "../../config/limits";
import { objectCall } from "../../lib/deadline";
import { DomainError } from "../../lib/errors";
import { fnv1a } from "../../lib/hash";
import { iso } from "../../lib/time";
import { orderEvent } from "../events";
import { signQueuePass } from "./pass";

export interface QueueDeps {
  db: D1Database;
  waitingRoom: DurableObjectNamespace<WaitingRoom>;
  jwtKeys: readonly [SigningKey, ...SigningKey[]];
  now?: number;
}

export interface QueueAnswer {
  state: "waiting" | "admitted";
  /** Your place in the line: 1 is next; 0 once you are in. */
  position: number;
  aheadOfYou: number;
  estimatedWaitSeconds: number;
  /** When to ask again (waiting); 0 once admitted. */
  pollAfterSeconds: number;
  /** Admitted: show it as `Queue-Pass` when you order. */
  pass?: string;
  passExpiresAt?: string;
}

/** The shard a buyer always lands on. */
export function shardOf(userId: string): number {
  return fnv1a(userId) % LIMITS.waitingRoomShards;
}

/** The problem for an order without a valid pass while the queue is on, naming where to queue. */
export function queuePassRequired(eventId: string): DomainError {
  return new DomainError(
    "queue-pass-required",
    "This event's waiting room is on: join the queue and order with the pass it gives you (Queue-Pass header).",
    { queue: `/api/v1/events/${encodeURIComponent(eventId)}/queue` },
  );
}

async function admitted(deps: QueueDeps, eventId: string, userId: string, from: number): Promise<QueueAnswer> {
  const expiresAt = Math.floor(from / 1000) + LIMITS.queuePassSeconds;
  return {
    state: "admitted",
    position: 0,
    aheadOfYou: 0,
    estimatedWaitSeconds: 0,
    pollAfterSeconds: 0,
    pass: await signQueuePass(deps.jwtKeys, { eventId, userId, expiresAt }),
    passExpiresAt: iso(expiresAt * 1000) as string,
  };
}

export async function joinQueue(deps: QueueDeps, userId: string, eventId: string): Promise<QueueAnswer> {
  const now = deps.now ?? Date.now();
  const event = await orderEvent(deps.db, eventId, now);
  if (!event || event.status === "draft") throw new DomainError("not-found", "No such event.");
  if (event.status !== "published") throw new DomainError("not-on-sale", "The event is not on sale.");
  if (now >= event.starts_at) throw new DomainError("event-started", "The event has already started.");
  if (event.sales_end_at !== null && now >= event.sales_end_at) {
    throw new DomainError("not-on-sale", "Sales have closed.");
  }
  // No queue: nobody is numbered, and the pass (which the order path then ignores) costs no object call.
  if (event.queue_mode === "off") return admitted(deps, eventId, userId, now);

  const shard = shardOf(userId);
  const answer = await objectCall(
    deps.waitingRoom
      .getByName(`${eventId}:${shard}`)
      .join({ eventId, shard, userId, startsAt: event.starts_at }) as Promise<JoinAnswer>,
    LIMITS.waitingRoomTimeoutMs,
    "The waiting room",
  );
  if (answer.state === "admitted") return admitted(deps, eventId, userId, answer.admittedAt);
  return {
    state: "waiting",
    position: answer.aheadOfYou + 1,
    aheadOfYou: answer.aheadOfYou,
    estimatedWaitSeconds: answer.estimatedWaitSeconds,
    pollAfterSeconds: answer.pollAfterSeconds,
  };
}
