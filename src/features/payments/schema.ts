/** Payments schemas: checkout answers, refund answers, refund policies, the optional return URL. */
import { z } from "@hono/zod-openapi";

export const PaidOrderSchema = z
  .object({
    id: z.string(),
    eventId: z.string(),
    status: z.string().openapi({ example: "held" }),
    quantity: z.number().int(),
    amount: z.number().int().openapi({ description: "Minor units of currency" }),
    currency: z.string(),
    createdAt: z.string(),
  })
  .openapi("PaidOrder");

export const CheckoutSchema = z
  .object({
    order: PaidOrderSchema,
    checkoutUrl: z.url().openapi({ description: "Stripe Checkout page; send the buyer there" }),
    holdExpiresAt: z.iso.datetime().openapi({ description: "The seats are held (and the page payable) until then" }),
  })
  .openapi("Checkout");

/** Optional on paid order creation and checkout retries: where Stripe sends the buyer back. */
export const ReturnUrlBody = z.object({
  returnUrl: z
    .string()
    .max(2048)
    .optional()
    .openapi({ description: "This site or an allowed front-end origin; `order` and `checkout` are added" }),
});

export const RefundPolicySchema = z
  .object({
    refundable: z.boolean(),
    cutoffHours: z.number().int().openapi({ description: "Refunds allowed until this many hours before the start" }),
    custom: z.boolean().openapi({ description: "false: the platform default applies" }),
  })
  .openapi("RefundPolicy");

export const RefundPolicyBody = z
  .object({
    refundable: z.boolean(),
    cutoffHours: z
      .number()
      .int()
      .min(0)
      .max(365 * 24),
  })
  .openapi("SetRefundPolicy");

export const RefundResultSchema = z
  .object({
    order: PaidOrderSchema,
    tickets: z.array(z.object({ id: z.string(), eventId: z.string(), serial: z.number().int(), status: z.string() })),
    refund: z.object({
      status: z.enum(["pending", "succeeded"]),
      amount: z.number().int(),
      currency: z.string(),
    }),
  })
  .openapi("RefundRequested");
