/** Personal data: what other features and the Worker's entry may use. Features import each other only through this file (README, Code map). */

export { type ContactPurgeSweep, sweepEndedEventContacts } from "./contact-retention";
export { ERASED_NAME, erasedEmail } from "./erasure";
export { EXPORT_KEY_PREFIX, expireDataExports } from "./export";
export { type ObjectErasureSweep, sweepObjectErasures } from "./object-erasures";
export { type PiiJobReport, type PiiSweepReport, piiSweep, runPiiJob, SEALED_COLUMNS } from "./pii-job";
export { piiAdminRoutes } from "./pii-routes";
export { privacyRoutes } from "./routes";
