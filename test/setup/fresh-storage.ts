/**
 * Before each file of the `serial` project (vitest.config.ts): every binding's data goes — D1, R2, the
 * queues, every Durable Object's storage — so the file starts as in a Miniflare of its own, without
 * the seconds it takes to start one and load the Worker into it. The migrations follow (the next
 * setup file).
 */
import { reset } from "cloudflare:test";

await reset();
