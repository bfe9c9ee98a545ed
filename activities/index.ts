// The activities the kernelSearch workflow calls. Generation runs on the orchestrator task queue,
// verification on the GPU task queue; each factory binds its configuration (endpoint, slots).
import type { createAuditActivities } from './describeAudit.js';
import type { createCampaignActivities } from './describeSearch.js';
import type { createGenerationActivities } from './generateKernel.js';
import type { createVerificationActivities } from './verifyKernel.js';

export { createAuditActivities } from './describeAudit.js';
export { createCampaignActivities } from './describeSearch.js';
export { createGenerationActivities } from './generateKernel.js';
export { createVerificationActivities } from './verifyKernel.js';

export type Activities = ReturnType<typeof createGenerationActivities> & ReturnType<typeof createVerificationActivities> &
  ReturnType<typeof createCampaignActivities> & ReturnType<typeof createAuditActivities>;
