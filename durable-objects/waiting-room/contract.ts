/**
 * WaitingRoom's contract with the Worker: the join request and its answer. The one file of the object
 * that src/ imports (types only), as for EventInventory.
 */
export type { WaitingRoom } from "./index";

export interface JoinRequest {
  eventId: string;
  /** This shard's index, 0 ≤ shard < LIMITS.waitingRoomShards. */
  shard: number;
  userId: string;
  /** When the event starts (ms): nobody joins after it, so the shard forgets its line a while later. */
  startsAt: number;
}

export type JoinAnswer =
  | {
      state: "admitted";
      /** The buyer's number; null when the queue is off (nobody is numbered). */
      number: number | null;
      /** When the buyer was first found admitted: their pass runs from here (LIMITS.queuePassSeconds). */
      admittedAt: number;
    }
  | {
      state: "waiting";
      /** Null until the shard's next report has it numbered (a fraction of a second). */
      number: number | null;
      /** Buyers between the cursor and this one (an estimate until numbered). */
      aheadOfYou: number;
      estimatedWaitSeconds: number;
      pollAfterSeconds: number;
    };
