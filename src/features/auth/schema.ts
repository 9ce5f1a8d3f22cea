/** Request and response schemas of the auth and /me routes (they validate and generate OpenAPI). */
import { z } from "@hono/zod-openapi";

/** RFC 5321 caps a forward path at 254 characters. */
const email = z.string().trim().max(254).email().openapi({ example: "ada@example.com" });
/**
 * Policy (8–128 characters, not common, not the email) is checked by the service, which answers
 * `weak-password`; the schema only bounds the size of what it accepts.
 */
const password = z.string().min(1).max(1024).openapi({ example: "correct horse battery staple" });
const turnstileToken = z
  .string()
  .min(1)
  .max(2048)
  .optional()
  .openapi({ description: "Turnstile token, required after repeated failures" });

export const UserSchema = z
  .object({
    id: z.string(),
    email: z.string(),
    name: z.string(),
    roles: z.array(z.string()),
    emailVerified: z.boolean(),
    createdAt: z.string().openapi({ format: "date-time" }),
  })
  .openapi("User");

export const TokensSchema = z
  .object({
    accessToken: z.string(),
    refreshToken: z.string(),
    expiresIn: z.number().int().openapi({ description: "Access token lifetime in seconds" }),
    user: UserSchema,
  })
  .openapi("Tokens");

export const MessageSchema = z.object({ message: z.string() }).openapi("Message");

export const RegisterBody = z
  .object({
    email,
    password,
    name: z.string().trim().min(1).max(100),
    turnstileToken,
    next: z.string().max(2048).optional().openapi({ description: "Where the verification link leads afterwards" }),
  })
  .openapi("RegisterBody");

export const LoginBody = z
  .object({
    email,
    password,
    turnstileToken,
    cookie: z.boolean().optional().openapi({ description: "Browsers: also set __Host- session cookies" }),
  })
  .openapi("LoginBody");

export const RefreshBody = z
  .object({ refreshToken: z.string().min(1).max(512).optional().openapi({ description: "Omit to use the cookie" }) })
  .openapi("RefreshBody");

export const TokenBody = z.object({ token: z.string().min(1).max(512) }).openapi("TokenBody");
export const VerifyEmailBody = z
  .object({
    token: z.string().min(1).max(512),
    password: password.optional().openapi({
      description: "The password chosen at sign-up: kept when given and right. Omit to confirm without it (clears it).",
    }),
  })
  .openapi("VerifyEmailBody");
/** The confirmation page's two forms: with the password, or `without_password=1`. */
export const VerifyEmailForm = z.object({
  token: z.string().min(1).max(512),
  password: z.string().max(1024).optional(),
  without_password: z.literal("1").optional(),
  next: z.string().max(2048).optional(),
});
export const VerifiedSchema = UserSchema.extend({
  passwordKept: z.boolean().openapi({ description: "False when confirming without the sign-up password removed it" }),
}).openapi("VerifiedUser");
export const EmailBody = z.object({ email, turnstileToken }).openapi("EmailBody");
export const ResetBody = z.object({ token: z.string().min(1).max(512), password }).openapi("ResetBody");
export const OtpVerifyBody = z
  .object({ email, code: z.string().regex(/^\d{6}$/, "must be 6 digits"), turnstileToken })
  .openapi("OtpVerifyBody");
export const CsrfSchema = z.object({ csrfToken: z.string() }).openapi("CsrfToken");
