// Which OpenAI-compatible endpoint generation talks to. Keys come from the worker's environment and
// never enter workflow history.
export const NIM_BASE_URL = 'https://integrate.api.nvidia.com/v1';
export const DEFAULT_MODEL = 'deepseek-ai/deepseek-r1';

export interface Endpoint {
  baseURL: string;
  apiKey: string;
  defaultModel: string;
  /** Which variable the key came from, for messages. */
  keySource: string;
}

export function resolveEndpoint(env: NodeJS.ProcessEnv = process.env): Endpoint {
  const defaultModel = env.KS_MODEL || DEFAULT_MODEL;
  if (env.OPENAI_BASE_URL) {
    return { baseURL: env.OPENAI_BASE_URL.replace(/\/+$/, ''), apiKey: env.OPENAI_API_KEY || 'none', defaultModel, keySource: 'OPENAI_API_KEY' };
  }
  if (env.NVIDIA_API_KEY) return { baseURL: NIM_BASE_URL, apiKey: env.NVIDIA_API_KEY, defaultModel, keySource: 'NVIDIA_API_KEY' };
  if (env.OPENAI_API_KEY) return { baseURL: 'https://api.openai.com/v1', apiKey: env.OPENAI_API_KEY, defaultModel: env.KS_MODEL || 'o4-mini', keySource: 'OPENAI_API_KEY' };
  return { baseURL: NIM_BASE_URL, apiKey: '', defaultModel, keySource: 'NVIDIA_API_KEY' };
}

/** True when some real endpoint is configured (used to decide whether the demo needs the scripted model). */
export function hasConfiguredEndpoint(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.OPENAI_BASE_URL || env.NVIDIA_API_KEY || env.OPENAI_API_KEY);
}

/** Reasoning models get the instructions in the user turn and no system prompt (DeepSeek's advice for R1). */
export function isReasoningModel(model: string): boolean {
  return /(^|[-/_])r1\b|reasoner|deepseek-r1|^o\d/i.test(model);
}
