/**
 * The camera and the QR decoder. The browser's own BarcodeDetector where it has one (Android
 * Chrome, Safari); elsewhere the barcode-detector ponyfill (ZXing-C++ as WebAssembly), self-hosted
 * under /assets/vendor/ (scripts/vendor-assets.mjs puts it there) and loaded only then: the ~60 KB
 * script and ~1.1 MB wasm are never fetched by a phone that decodes natively.
 */
const VENDOR = "/assets/vendor";
const SCAN_INTERVAL_MS = 120;

let detectorPromise = null;

async function nativeDetector() {
  if (!("BarcodeDetector" in globalThis)) return null;
  try {
    const formats = await globalThis.BarcodeDetector.getSupportedFormats();
    if (!formats.includes("qr_code")) return null;
    return new globalThis.BarcodeDetector({ formats: ["qr_code"] });
  } catch {
    return null;
  }
}

async function fallbackDetector() {
  const lib = await import(`${VENDOR}/barcode-detector/ponyfill.js`);
  // Our copy of the wasm, not the library's default CDN URL (CSP, offline); compiled now, so a
  // failure shows when the camera starts rather than as silence while codes are held up to it.
  await lib.prepareZXingModule({
    overrides: {
      locateFile: (path, prefix) => (path.endsWith(".wasm") ? `${VENDOR}/zxing-wasm/${path}` : prefix + path),
    },
    fireImmediately: true,
  });
  return new lib.BarcodeDetector({ formats: ["qr_code"] });
}

/** The detector (native first), made once. */
export function detector() {
  detectorPromise ??= nativeDetector()
    .then((native) => native ?? fallbackDetector())
    .catch((error) => {
      detectorPromise = null;
      throw error;
    });
  return detectorPromise;
}

/**
 * Opens the rear camera into `video` and calls onCode(text) for each QR code read, until stop().
 * Decoding is paused while `paused()` is true (a result is on screen).
 */
export async function startCamera(video, { onCode, paused }) {
  if (!navigator.mediaDevices?.getUserMedia) throw new Error("This browser cannot use the camera here (HTTPS needed).");
  const [stream, decode] = await Promise.all([
    navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } },
    }),
    detector(),
  ]);
  video.srcObject = stream;
  await video.play().catch(() => {});
  let running = true;
  let timer = 0;
  const tick = async () => {
    if (!running) return;
    if (!paused() && video.readyState >= 2 && video.videoWidth > 0) {
      try {
        const codes = await decode.detect(video);
        const text = codes.find((c) => c.rawValue)?.rawValue;
        if (running && text) onCode(text);
      } catch {
        // A frame the decoder could not take (the camera restarting): try the next one.
      }
    }
    if (running) timer = setTimeout(tick, SCAN_INTERVAL_MS);
  };
  tick();
  return {
    stop() {
      running = false;
      clearTimeout(timer);
      for (const track of stream.getTracks()) track.stop();
      video.srcObject = null;
    },
  };
}
