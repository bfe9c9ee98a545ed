// Queries of the audit workflow, shared by the workflow and its clients.
import { defineQuery } from '@temporalio/workflow';
import type { AuditProgress } from '../domain/audit.js';

export const auditProgressQuery = defineQuery<AuditProgress>('auditProgress');
