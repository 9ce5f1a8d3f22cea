/** The gate: what other features may use (devices, ticket QR codes). Features import each other only through this file (README, Code map). */
export * from "./devices";
export * from "./qr";
