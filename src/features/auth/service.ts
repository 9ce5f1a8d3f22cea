/**
 * Accounts: registration, email verification, password reset, password and email-OTP sign-in,
 * refresh, logout, and the host role. OWASP ASVS 5.0 chapter 6 (authentication) and 7 (sessions).
 * No account enumeration: register, forgot-password and otp/request answer the same for known and
 * unknown emails, and login spends a password hash either way.
 */
export * from "./account";
export * from "./deps";
export * from "./login";
export * from "./otp";
export * from "./registration";
export * from "./reset";
