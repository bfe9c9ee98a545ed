// Everything the workflow bundle exports; workers load this file.
export { kernelSearch } from './kernelSearch.js';
export { campaign } from './campaign.js';
export { audit, auditKernel } from './audit.js';
