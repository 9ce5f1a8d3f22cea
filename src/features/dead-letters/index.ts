/** Dead letters: what other features may use to park and read failed work. Features import each other only through this file (README, Code map). */
export * from "./store";
