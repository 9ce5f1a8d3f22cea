/** The fake Resend lives in the test kit (test/support/resend.ts); this path stays for its importers. */
export * from "../../support/resend";
