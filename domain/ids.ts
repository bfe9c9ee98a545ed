// Deterministic workflow ids: submitting the same thing twice never starts two.

export function campaignWorkflowId(name: string): string {
  return `campaign-${name}`;
}

/** A campaign's child search for one problem. */
export function campaignSearchId(name: string, problemId: string): string {
  return `ks-${name}-${problemId}`;
}
