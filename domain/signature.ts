// A kernel's approach, read from its source text (docs/search.md, "Signature"): which backend, which
// kernels it defines and how many launch sites, and its tiling constants. Two correct kernels with the
// same signature are variants of one approach; the population keeps the faster. Pure and cheap: plain
// regular expressions over the text, nothing is imported or run.
import type { Backend } from './types.js';

export interface KernelSignature {
  /** 'torch' when the module defines no kernel of its own (it composes PyTorch ops). */
  backend: Backend | 'torch';
  /** Names of the Triton kernels (`@triton.jit`) or CUDA `__global__` functions it defines, sorted. */
  kernels: string[];
  /** Launch sites in the text: `name[grid](` for Triton, `name<<<` or `name<T><<<` for CUDA (a site in a loop counts once). */
  launchSites: number;
  /** Tiling and launch constants, `NAME=value` sorted (several values of one name, e.g. from autotune configs, are joined by `|`). */
  tiles: string[];
}

const TRITON_KERNEL = /@triton\.jit[^\n]*\n(?:\s*@[^\n]*\n)*\s*def\s+([A-Za-z_]\w*)/g;
const CUDA_GLOBAL = /__global__\b/g;
/** The name of the function a `__global__` declaration starts: the identifier before its parameter list. */
const CUDA_NAME = /^[^(;{}]*?\b([A-Za-z_]\w*)\s*\(/;
// BLOCK_M=64, "BLOCK_SIZE": 1024, BLOCK_K: tl.constexpr = 32, TILE = 16, num_warps=4, num_stages=3, #define TILE_DIM 32, constexpr int BLOCK = 256
const TILE_ASSIGN = /["']?\b((?:BLOCK|TILE|GROUP|WARP|SPLIT)[A-Z0-9_]*|num_warps|num_stages|num_ctas)\b["']?\s*(?::\s*tl\.constexpr\s*)?[=:]\s*(\d+)\b/g;
const TILE_DEFINE = /#define\s+((?:BLOCK|TILE|GROUP|WARP|SPLIT|THREADS)[A-Z0-9_]*)\s+\(?(\d+)\)?/g;
const TILE_CONSTEXPR = /(?:constexpr|const)\s+(?:unsigned\s+)?(?:int|size_t|unsigned|int32_t|int64_t)\s+((?:BLOCK|TILE|GROUP|WARP|SPLIT|THREADS)[A-Za-z0-9_]*)\s*=\s*(\d+)/g;

/** Strips Python `#` comments and C `//` comments so that commented-out code does not count. */
function withoutComments(source: string): string {
  return source
    .split('\n')
    .map((line) => line.replace(/(^|\s)\/\/.*$/, '$1').replace(/(^|\s)#(?!define|include|pragma).*$/, '$1'))
    .join('\n');
}

export function kernelSignature(source: string): KernelSignature {
  const text = withoutComments(source);
  const triton = [...text.matchAll(TRITON_KERNEL)].map((m) => m[1]!);
  const cuda = [...text.matchAll(CUDA_GLOBAL)].flatMap((m) => {
    const rest = text.slice(m.index + m[0].length, m.index + 400).replace(/__launch_bounds__\s*\([^)]*\)/g, ' ');
    const name = CUDA_NAME.exec(rest)?.[1];
    return name ? [name] : [];
  });
  const backend: KernelSignature['backend'] = cuda.length > 0 || /load_inline|cpp_extension/.test(text) ? 'cuda' : triton.length > 0 ? 'triton' : 'torch';
  const kernels = [...new Set(backend === 'cuda' ? cuda : triton)].sort();
  let launchSites = 0;
  for (const k of kernels) {
    const name = k.replace(/[^\w]/g, '');
    const site = backend === 'cuda' ? new RegExp(`\\b${name}\\s*(?:<[^<>;]*>)?\\s*<<<`, 'g') : new RegExp(`\\b${name}\\s*\\[[^\\]\\n]*\\]\\s*\\(`, 'g');
    launchSites += [...text.matchAll(site)].length;
  }
  const values = new Map<string, Set<number>>();
  for (const re of [TILE_ASSIGN, TILE_DEFINE, TILE_CONSTEXPR]) {
    for (const m of text.matchAll(re)) {
      const set = values.get(m[1]!) ?? new Set<number>();
      set.add(Number(m[2]));
      values.set(m[1]!, set);
    }
  }
  const tiles = [...values.entries()].map(([k, v]) => `${k}=${[...v].sort((a, b) => a - b).join('|')}`).sort();
  return { backend, kernels, launchSites, tiles };
}

/** The signature as one comparable string: `triton:add_kernel,scale_kernel/2:BLOCK_SIZE=1024,num_warps=4`. */
export function signatureKey(s: KernelSignature): string {
  return `${s.backend}:${s.kernels.join(',')}/${s.launchSites}:${s.tiles.join(',')}`;
}

/** For a prompt: "triton, 2 kernels (add_kernel, scale_kernel), 2 launch sites, BLOCK_SIZE=1024". */
export function describeSignature(s: KernelSignature): string {
  if (s.backend === 'torch') return 'PyTorch ops only, no kernel of its own';
  const kernels = `${s.kernels.length} kernel${s.kernels.length === 1 ? '' : 's'} (${s.kernels.join(', ')})`;
  const sites = `${s.launchSites} launch site${s.launchSites === 1 ? '' : 's'}`;
  return [s.backend, kernels, sites, ...(s.tiles.length > 0 ? [s.tiles.join(', ')] : [])].join(', ');
}
