/**
 * Accounts, one file per flow, re-exported here for the routes: registration and email verification
 * (./registration.ts), password reset (./reset.ts), password sign-in, refresh and logout (./login.ts),
 * email-OTP sign-in (./otp.ts), the account and the host role (./account.ts). OWASP ASVS 5.0 chapter 6
 * (authentication) and 7 (sessions).
 * No account enumeration: register, forgot-password and otp/request answer the same for known and
 * unknown emails, and login spends a password hash either way.
 */
export * from "./account";
export * from "./deps";
export * from "./login";
export * from "./otp";
export * from "./registration";
export * from "./reset";
