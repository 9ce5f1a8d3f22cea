/** Media: what other features may use (signing a URL for an image they show, the purposes meant to be public). Features import each other only through this file (README, Code map). */
export { PUBLIC_PURPOSES, type Purpose } from "./schema";
export { type SignedParams, signedPath, signMedia, verifyMedia } from "./signing";
