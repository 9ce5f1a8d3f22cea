/**
 * The test kit's queue simulator decides each message's fate as Cloudflare Queues does: explicit
 * ack()/retry() first, then ackAll()/retryAll(), then a throwing handler retries the rest and a
 * returning one acks them; a retry waits its delay on the clock and comes back with attempts + 1, and
 * past max_retries it goes to the dead-letter queue (or is deleted when there is none).
 */
import { describe, expect, it } from "vitest";
import { freezeClock } from "./clock";
import { QueueSimulator } from "./queue";

type Script = (batch: MessageBatch<unknown>) => void;

function simulator(script: Script, maxRetries = 2) {
  const seen: { queue: string; body: unknown; attempts: number; at: number }[] = [];
  const sim = new QueueSimulator({
    queues: { work: { maxRetries, deadLetterQueue: "work-dlq" }, "work-dlq": { maxRetries: 0 }, plain: { maxRetries } },
    batchSize: 3,
    consumer: async (batch) => {
      for (const m of batch.messages)
        seen.push({ queue: batch.queue, body: m.body, attempts: m.attempts, at: Date.now() });
      if (batch.queue === "work-dlq") return;
      script(batch);
    },
  });
  return { sim, seen };
}

describe("the queue simulator", () => {
  it("explicit ack and retry win over ackAll; ackAll acks the rest", async () => {
    const { sim } = simulator((batch) => {
      for (const m of batch.messages) {
        if (m.body === "a") m.ack();
        if (m.body === "b") m.retry({ delaySeconds: 7 });
      }
      batch.ackAll();
    });
    for (const body of ["a", "b", "c"]) sim.enqueue("work", body);
    await sim.deliver(sim.takeDue());
    expect(sim.settled.map((s) => [s.delivery.body, s.outcome, s.delaySeconds])).toEqual([
      ["a", "ack", undefined],
      ["b", "retry", 7],
      ["c", "ack", undefined],
    ]);
    expect(sim.pending.map((d) => [d.body, d.attempts])).toEqual([["b", 2]]);
  });

  it("retryAll retries what was not acked, with the batch's delay; a throwing handler retries the rest, unless it called ackAll", async () => {
    let calls = 0;
    const { sim } = simulator((batch) => {
      calls += 1;
      if (calls === 1) {
        batch.messages[0]?.ack();
        batch.retryAll({ delaySeconds: 30 });
        return;
      }
      // After ackAll() a throw retries nothing: the batch was already settled.
      if (calls === 3) batch.ackAll();
      throw new Error("consumer bug");
    });
    sim.enqueue("work", "x");
    sim.enqueue("work", "y");
    await sim.deliver(sim.takeDue());
    expect(sim.settled.map((s) => [s.delivery.body, s.outcome, s.delaySeconds])).toEqual([
      ["x", "ack", undefined],
      ["y", "retry", 30],
    ]);
    sim.enqueue("work", "z");
    await sim.deliver(sim.takeDue());
    expect(sim.settled.at(-1)).toMatchObject({ outcome: "retry", delaySeconds: 0, delivery: { body: "z" } });
    sim.pending.splice(0);
    sim.enqueue("work", "settled");
    await sim.deliver(sim.takeDue());
    expect(sim.settled.at(-1)).toMatchObject({ outcome: "ack", delivery: { body: "settled" } });
  });

  it("delays are honoured on the clock: drain moves a frozen clock to each due message and counts attempts", async () => {
    const clock = freezeClock(Date.UTC(2031, 0, 1));
    const start = clock.now();
    const { sim, seen } = simulator((batch) => {
      for (const m of batch.messages) m.retry({ delaySeconds: 10 * m.attempts });
    });
    sim.enqueue("work", "late", 5);
    expect(sim.takeDue()).toEqual([]);
    await sim.drain();
    // Delivered at +5 s, retried after 10 s and 20 s, then dead-lettered after max_retries (2).
    expect(seen.map((s) => [s.queue, s.attempts, (s.at - start) / 1000])).toEqual([
      ["work", 1, 5],
      ["work", 2, 15],
      ["work", 3, 35],
      ["work-dlq", 1, 35],
    ]);
    expect(sim.pending).toEqual([]);
  });

  it("without a dead-letter queue a message past max_retries is deleted; drain without advanceClock leaves delayed ones", async () => {
    freezeClock();
    const { sim, seen } = simulator((batch) => batch.retryAll(), 1);
    sim.enqueue("plain", "gone");
    await sim.drain();
    expect(seen.map((s) => s.attempts)).toEqual([1, 2]);
    expect(sim.pending).toEqual([]);

    sim.enqueue("plain", "later", 60);
    await sim.drain({ advanceClock: false });
    expect(sim.pending.map((d) => d.body)).toEqual(["later"]);
  });

  it("batches hold one queue's messages, at most batchSize, oldest first; bindings record what was sent", async () => {
    freezeClock();
    const { sim } = simulator(() => {});
    const queue = sim.binding("work");
    await queue.sendBatch([{ body: 1 }, { body: 2 }, { body: 3 }, { body: 4, delaySeconds: 1 }]);
    sim.enqueue("plain", "other");
    expect(sim.takeDue().map((d) => d.body)).toEqual([1, 2, 3]);
    expect(sim.takeDue().map((d) => d.body)).toEqual(["other"]);
    expect(sim.sent.map((s) => [s.queue, s.body, s.delaySeconds])).toEqual([
      ["work", 1, 0],
      ["work", 2, 0],
      ["work", 3, 0],
      ["work", 4, 1],
    ]);
    const collectOnly = sim.binding("elsewhere", { deliver: false });
    await collectOnly.send("kept");
    expect(sim.sent.at(-1)).toMatchObject({ queue: "elsewhere", body: "kept" });
    expect(sim.pending.map((d) => d.body)).toEqual([4]);
  });

  it("drain refuses to move a clock that is not frozen", async () => {
    const { sim } = simulator(() => {});
    sim.enqueue("work", "later", 60);
    await expect(sim.drain()).rejects.toThrow(/freeze it first/);
  });
});
