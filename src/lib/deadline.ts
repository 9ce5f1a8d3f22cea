/**
 * Deadlines for calls to Durable Objects: nobody waits on a hung connection (issue 20). A call that
 * does not answer in time, or that the runtime refuses as overloaded, becomes 503 `unavailable` with
 * Retry-After (the one shape clients already retry on), never a request that hangs until the
 * platform cuts it. The rate limiter's client does the same for its own calls (./rate-limit-client.ts).
 */
import { DomainError, unavailableError } from "./errors";

export class DeadlineExceeded extends Error {
  override readonly name = "DeadlineExceeded";
}

/** `work`, or DeadlineExceeded once `ms` have passed without an answer. */
export async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(`${what} did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Whether an object call failed for want of the object rather than by its decision: our deadline, or
 * the runtime's overloaded / retryable errors (a Durable Object's queue is full, it is restarting, the
 * connection to it dropped).
 */
export function objectUnavailable(error: unknown): boolean {
  if (error instanceof DeadlineExceeded) return true;
  if (typeof error !== "object" || error === null) return false;
  const flags = error as { overloaded?: unknown; retryable?: unknown };
  return flags.overloaded === true || flags.retryable === true;
}

/** An object call under a deadline: its answer, or 503 unavailable (Retry-After) when the object is not there. */
export async function objectCall<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  try {
    return await withDeadline(work, ms, what);
  } catch (error) {
    if (!(error instanceof DomainError) && objectUnavailable(error)) {
      throw unavailableError(`${what} is busy; retry shortly.`);
    }
    throw error;
  }
}
