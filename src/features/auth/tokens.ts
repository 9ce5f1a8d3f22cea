/**
 * Access tokens: HS256 JWTs signed with jose, `kid` in the header so the key set can rotate (the
 * first configured key signs, every configured key verifies). Lifetime 15 minutes
 * (LIMITS.accessTokenSeconds, ASVS 7.2). The `sid` and `epoch` claims tie a token to its session and
 * to the user's session epoch, so logout and password reset revoke it at once instead of when it
 * expires.
 */
import { errors, jwtVerify, SignJWT } from "jose";
import type { SigningKey } from "../../config";
import { LIMITS } from "../../config/limits";

const ISSUER = "gatehouse";
const AUDIENCE = "gatehouse-api";
const encoder = new TextEncoder();

export interface AccessClaims {
  sub: string;
  sid: string;
  epoch: number;
}

export async function signAccessToken(
  keys: readonly SigningKey[],
  claims: AccessClaims,
  now = Date.now(),
): Promise<string> {
  const key = keys[0];
  if (!key) throw new Error("no signing key configured");
  const iat = Math.floor(now / 1000);
  return new SignJWT({ sid: claims.sid, epoch: claims.epoch })
    .setProtectedHeader({ alg: "HS256", kid: key.kid, typ: "JWT" })
    .setSubject(claims.sub)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + LIMITS.accessTokenSeconds)
    .sign(encoder.encode(key.secret));
}

/** The verified claims, or null for any invalid token (bad signature, unknown kid, expired, …). */
export async function verifyAccessToken(
  keys: readonly SigningKey[],
  token: string,
  now = Date.now(),
): Promise<AccessClaims | null> {
  try {
    const { payload } = await jwtVerify(
      token,
      async (header) => {
        const key = keys.find((k) => k.kid === header.kid);
        if (!key) throw new errors.JWKSNoMatchingKey();
        return encoder.encode(key.secret);
      },
      {
        algorithms: ["HS256"],
        issuer: ISSUER,
        audience: AUDIENCE,
        currentDate: new Date(now),
        requiredClaims: ["sub", "sid", "exp", "iat"],
      },
    );
    if (typeof payload.sid !== "string" || typeof payload.epoch !== "number" || typeof payload.sub !== "string") {
      return null;
    }
    return { sub: payload.sub, sid: payload.sid, epoch: payload.epoch };
  } catch {
    return null;
  }
}
