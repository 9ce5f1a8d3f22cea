/**
 * The platform fee of one charge: max(round(amount × bps / 10,000), the currency's fixed minimum),
 * capped at the amount (a host never owes more than the sale), or at `maxShareBps` of it when given
 * (tips: the creator always keeps at least half). Pro hosts get the lower share.
 */
import { PLATFORM_FEE_BPS, PLATFORM_FEE_BPS_PRO, PLATFORM_FEE_MINIMUMS } from "../../config/fees";

export function platformFee(
  amount: number,
  currency: string,
  options: { pro?: boolean; maxShareBps?: number } = {},
): number {
  if (amount <= 0) return 0;
  const bps = options.pro ? PLATFORM_FEE_BPS_PRO : PLATFORM_FEE_BPS;
  const share = Math.round((amount * bps) / 10_000);
  const minimum = PLATFORM_FEE_MINIMUMS[currency.toUpperCase()] ?? 0;
  const cap = options.maxShareBps === undefined ? amount : Math.floor((amount * options.maxShareBps) / 10_000);
  return Math.min(cap, Math.max(share, minimum));
}
