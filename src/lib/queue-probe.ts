/**
 * The /health queue probe: a tiny message sent to each producer binding, proving the queue accepts
 * writes (a bound producer proves nothing about that). Every consumer recognises it first and
 * acknowledges it without doing anything, so a probe is never retried, dead-lettered or logged as
 * malformed. Its shape is listed with the other queue messages in docs/storage.md.
 */

export const QUEUE_PROBE = { probe: "health" } as const;

export function isQueueProbe(body: unknown): boolean {
  return typeof body === "object" && body !== null && (body as { probe?: unknown }).probe === QUEUE_PROBE.probe;
}

/** Acknowledges the probes of a batch and returns the other messages: the consumer's real work. */
export function dropProbes<M extends Message<unknown>>(messages: readonly M[]): M[] {
  const work: M[] = [];
  for (const message of messages) {
    if (isQueueProbe(message.body)) message.ack();
    else work.push(message);
  }
  return work;
}
