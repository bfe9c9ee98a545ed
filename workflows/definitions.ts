// Signals, queries and updates of the kernelSearch workflow, shared by the workflow and its clients.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { CampaignProgress, SearchStatus } from '../domain/types.js';

export const statusQuery = defineQuery<SearchStatus>('status');
/** Ends the search gracefully: in-flight candidates are cancelled and the best kernel so far is the result. */
export const stopSignal = defineSignal<[reason?: string]>('stop');
/** Adds milliseconds to the deadline; returns the new deadline (epoch ms). */
export const extendBudgetUpdate = defineUpdate<{ deadlineMs: number }, [extraMs: number]>('extendBudget');

export const campaignProgressQuery = defineQuery<CampaignProgress>('progress');
