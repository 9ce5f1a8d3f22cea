/**
 * A ticket's QR code as compact inline SVG for the wallet page. The code itself is the API's (uqr with
 * src/features/gate/qr.ts's QR_OPTIONS: error correction M, the 4-module quiet zone); only the markup
 * differs. uqr's renderSVG draws every dark module as its own 8-pixel square, ~25 KB for a ticket
 * token; here each row's runs of dark modules are one stroked segment on a 1-unit grid, ~5 KB, so a
 * wallet of several tickets stays inside the page budget. No style attributes (the CSP forbids them).
 */
import { encode } from "uqr";
import { QR_OPTIONS } from "../../../features/gate/qr";

export function compactQrSvg(token: string, label: string): string {
  const { size, data } = encode(token, { ecc: QR_OPTIONS.ecc, border: QR_OPTIONS.border });
  let d = "";
  for (let y = 0; y < size; y++) {
    const row = data[y] ?? [];
    let pen = -1; // x where the previous run ended on this row, -1 before the first
    for (let x = 0; x < size; ) {
      if (!row[x]) {
        x++;
        continue;
      }
      const start = x;
      while (x < size && row[x]) x++;
      d += pen < 0 ? `M${start} ${y}.5h${x - start}` : `m${start - pen} 0h${x - start}`;
      pen = x;
    }
  }
  const escaped = label.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/"/g, "&quot;");
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${size} ${size}" role="img" aria-label="${escaped}" shape-rendering="crispEdges">` +
    `<rect width="${size}" height="${size}" fill="#fff"/><path stroke="#000" d="${d}"/></svg>`
  );
}
