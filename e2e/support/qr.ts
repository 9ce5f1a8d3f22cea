/**
 * Reads a QR code the page shows, the way a camera would: a screenshot of the element, decoded in
 * Node with jsQR. Whatever draws the code (inline SVG, <img>, canvas), what counts is the pixels.
 * Chromium on Linux has no BarcodeDetector, hence a decoder here rather than in the page.
 */
import type { Locator } from "@playwright/test";
import jsQR from "jsqr";
import { PNG } from "pngjs";

/** White border added around the screenshot: a decoder needs a quiet zone (ISO/IEC 18004: 4 modules). */
const MARGIN = 32;

/** The text of the QR code in `locator`'s element; throws when no code can be read there. */
export async function decodeQr(locator: Locator): Promise<string> {
  await locator.scrollIntoViewIfNeeded();
  const shot = PNG.sync.read(await locator.screenshot({ animations: "disabled" }));
  const width = shot.width + 2 * MARGIN;
  const height = shot.height + 2 * MARGIN;
  const framed = new Uint8ClampedArray(width * height * 4).fill(255);
  for (let y = 0; y < shot.height; y++) {
    const from = y * shot.width * 4;
    framed.set(shot.data.subarray(from, from + shot.width * 4), ((y + MARGIN) * width + MARGIN) * 4);
  }
  const code = jsQR(framed, width, height);
  if (!code) throw new Error(`no QR code readable in ${locator} (${shot.width}×${shot.height} px)`);
  return code.data;
}

/**
 * The ticket id inside a ticket token: payload byte 0 is the type (0x01), bytes 1–16 the ticket id's
 * bytes (src/features/gate/token.ts). Reading it proves nothing about the signature; the gate does.
 */
export function ticketIdOf(token: string): string {
  const payload = Buffer.from(token.split(".")[1] ?? "", "base64url");
  if (payload.length !== 33 || payload[0] !== 0x01) throw new Error(`not a ticket token: ${token}`);
  return payload.subarray(1, 17).toString("base64url");
}
