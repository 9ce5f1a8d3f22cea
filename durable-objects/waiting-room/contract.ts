/**
 * WaitingRoom's contract with the Worker: the join request and its answer. The one file of the object
 * that src/ imports (types only), as for EventInventory.
 */
export type { WaitingRoom } from "./index";

export interface JoinRequest {
  eventId: string;
  /** This shard's index, 0 ≤ shard < LIMITS.waitingRoomShards: its numbers are ≡ shard (mod shards). */
  shard: number;
  userId: string;
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
      number: number;
      /** Numbers between the cursor and the buyer's (a few were never handed out: an upper bound). */
      aheadOfYou: number;
      estimatedWaitSeconds: number;
      pollAfterSeconds: number;
    };
