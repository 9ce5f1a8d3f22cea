/** Email: the outbox writers, the queue hand-off and replay, for the features that send email. Features import each other only through this file (README, Code map). */
export * from "./enqueue";
export * from "./outbox";
export * from "./replay";
