/** The audit log: what other features may use (entries, statements, request metadata). Features import each other only through this file (README, Code map). */
export * from "./service";
