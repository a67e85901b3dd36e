// Template variables in forms: the rule check (a mirror of the panel's
// `templates/values.rs`, for messages while typing; the server stays the authority),
// which input each type gets, who may see and change what, and what changed.

import type { TemplateVariable, VariableRules, VariableType } from './types';

/** What a set secret looks like when the API sends it back; sending it keeps it. */
export const SECRET_MASK = '********';

// Unicode "Cc" (what Rust's `char::is_control` means): C0 controls, DEL and C1 controls.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

const regexCache = new Map<string, RegExp | null>();

/** The rule's regex anchored around the whole value, or null if JavaScript cannot compile it. */
export function anchoredRegex(source: string): RegExp | null {
  if (regexCache.has(source)) return regexCache.get(source)!;
  let re: RegExp | null = null;
  for (const flags of ['u', '']) {
    try {
      re = new RegExp(`^(?:${source})$`, flags);
      break;
    } catch {
      re = null;
    }
  }
  regexCache.set(source, re);
  return re;
}

function parseI64(value: string): bigint | null {
  if (!/^[+-]?\d+$/.test(value)) return null;
  const n = BigInt(value);
  return n < I64_MIN || n > I64_MAX ? null : n;
}

/**
 * What is wrong with `value` under the variable's type and rules, in the panel's words
 * ("must be at most 999999"), or null when it is fine. An empty value is fine unless
 * the variable is required; the other rules only apply to non-empty values.
 */
export function ruleProblem(type: VariableType, rules: VariableRules | undefined, value: string): string | null {
  const r = rules ?? {};
  if (CONTROL.test(value)) return 'must be one line without control characters';
  if (value === '') return r.required ? 'is required' : null;
  if (type === 'integer') {
    const n = parseI64(value);
    if (n === null) return 'must be a whole number';
    if (r.min != null && n < BigInt(r.min)) return `must be at least ${r.min}`;
    if (r.max != null && n > BigInt(r.max)) return `must be at most ${r.max}`;
  } else if (type === 'boolean') {
    if (!['true', 'false', '1', '0'].includes(value)) return 'must be true or false';
  }
  const chars = [...value].length;
  if (r.min_length != null && chars < r.min_length) return `must be at least ${r.min_length} characters`;
  if (r.max_length != null && chars > r.max_length) return `must be at most ${r.max_length} characters`;
  if (r.one_of && r.one_of.length > 0 && !r.one_of.includes(value)) return `must be one of ${r.one_of.join(', ')}`;
  if (r.regex) {
    const re = anchoredRegex(r.regex);
    if (re && !re.test(value)) return `must match ${r.regex}`;
  }
  return null;
}

/** The message shown under the field: "<Name> <problem>", as the panel words its 422. */
export function checkVariable(v: Pick<TemplateVariable, 'name' | 'type' | 'rules'>, value: string): string | null {
  const p = ruleProblem(v.type, v.rules, value);
  return p ? `${v.name} ${p}` : null;
}

export interface InputSpec {
  kind: 'number' | 'checkbox' | 'select' | 'password' | 'text';
  min?: number;
  max?: number;
  maxlength?: number;
  minlength?: number;
  /** For selects: the choices, with an empty one when the variable is optional. */
  options?: { value: string; label: string }[];
}

/** The input a variable gets in a form. */
export function inputSpec(v: Pick<TemplateVariable, 'type' | 'rules'>): InputSpec {
  const r = v.rules ?? {};
  const lengths = {
    ...(r.max_length != null ? { maxlength: r.max_length } : {}),
    ...(r.min_length != null ? { minlength: r.min_length } : {}),
  };
  switch (v.type) {
    case 'integer':
      return { kind: 'number', ...(r.min != null ? { min: r.min } : {}), ...(r.max != null ? { max: r.max } : {}) };
    case 'boolean':
      return { kind: 'checkbox' };
    case 'enum': {
      const options = (r.one_of ?? []).map((o) => ({ value: o, label: o }));
      if (!r.required) options.unshift({ value: '', label: '—' });
      return { kind: 'select', options };
    }
    case 'secret':
      return { kind: 'password', ...lengths };
    default:
      return { kind: 'text', ...lengths };
  }
}

/** A boolean variable's value → checked. */
export const isTrue = (value: string) => value === 'true' || value === '1';

/** Checked → the value, in the spelling the variable already uses ("1"/"0" or "true"/"false"). */
export function boolValue(checked: boolean, like: string): string {
  if (like === '1' || like === '0') return checked ? '1' : '0';
  return checked ? 'true' : 'false';
}

/** Variables a user sees: all for admins, else those the template lets users see. */
export function visibleVariables<T extends Pick<TemplateVariable, 'user_viewable'>>(vars: T[], isAdmin: boolean): T[] {
  return vars.filter((v) => isAdmin || v.user_viewable);
}

/** Whether the user may change it (admins always). */
export function mayEdit(v: Pick<TemplateVariable, 'user_editable'> & { editable?: boolean }, isAdmin: boolean): boolean {
  if (v.editable !== undefined) return v.editable;
  return isAdmin || v.user_editable;
}

/** For admins: what users may not do with it ("Hidden from users."), or null. */
export function adminNote(v: Pick<TemplateVariable, 'user_viewable' | 'user_editable'>, isAdmin: boolean): string | null {
  if (!isAdmin) return null;
  if (!v.user_viewable) return 'Hidden from users.';
  if (!v.user_editable) return 'Users cannot change this.';
  return null;
}

/** The values that differ from `initial`: what a PATCH sends. */
export function changedValues(initial: Record<string, string>, current: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(current)) if (initial[k] !== v) out[k] = v;
  return out;
}

/**
 * Problems of every value in `values` (keyed `variables.<key>`). A secret still shown
 * masked is kept as it is and not checked.
 */
export function checkAll(
  vars: Pick<TemplateVariable, 'key' | 'name' | 'type' | 'rules'>[],
  values: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of vars) {
    const value = values[v.key] ?? '';
    if (v.type === 'secret' && value === SECRET_MASK) continue;
    const m = checkVariable(v, value);
    if (m) out[`variables.${v.key}`] = m;
  }
  return out;
}
