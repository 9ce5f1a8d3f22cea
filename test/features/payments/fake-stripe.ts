/** The fake Stripe lives in the test kit (test/support/stripe.ts); this path stays for its importers. */
export * from "../../support/stripe";
