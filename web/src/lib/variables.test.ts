import { describe, expect, it } from 'vitest';
import {
  SECRET_MASK,
  adminNote,
  boolValue,
  changedValues,
  checkAll,
  checkVariable,
  inputSpec,
  isTrue,
  mayEdit,
  ruleProblem,
  visibleVariables,
} from './variables';
import type { TemplateVariable } from './types';

const v = (over: Partial<TemplateVariable>): TemplateVariable => ({
  key: 'v',
  name: 'V',
  description: '',
  type: 'string',
  default: '',
  user_viewable: true,
  user_editable: true,
  rules: {},
  ...over,
});

describe('ruleProblem (mirrors the panel)', () => {
  it('empty: required or fine, other rules skipped', () => {
    expect(ruleProblem('string', { required: true }, '')).toBe('is required');
    expect(ruleProblem('integer', { min: 5 }, '')).toBeNull();
    expect(ruleProblem('string', { min_length: 3, regex: '[a-z]+' }, '')).toBeNull();
    expect(ruleProblem('enum', { one_of: ['a'] }, '')).toBeNull();
    expect(ruleProblem('string', undefined, '')).toBeNull();
  });

  it('integers parse and respect min and max', () => {
    const r = { min: 0, max: 999999 };
    expect(ruleProblem('integer', r, 'abc')).toBe('must be a whole number');
    expect(ruleProblem('integer', r, '1.5')).toBe('must be a whole number');
    expect(ruleProblem('integer', r, ' 5')).toBe('must be a whole number');
    expect(ruleProblem('integer', r, '-1')).toBe('must be at least 0');
    expect(ruleProblem('integer', r, '9999999')).toBe('must be at most 999999');
    expect(ruleProblem('integer', r, '999999')).toBeNull();
    expect(ruleProblem('integer', r, '+5')).toBeNull();
    expect(ruleProblem('integer', {}, '9223372036854775807')).toBeNull();
    expect(ruleProblem('integer', {}, '9223372036854775808')).toBe('must be a whole number');
  });

  it('booleans are true/false (or 1/0)', () => {
    for (const ok of ['true', 'false', '1', '0']) expect(ruleProblem('boolean', {}, ok)).toBeNull();
    expect(ruleProblem('boolean', {}, 'yes')).toBe('must be true or false');
  });

  it('enums must be one of the choices', () => {
    expect(ruleProblem('enum', { one_of: ['a', 'b'] }, 'c')).toBe('must be one of a, b');
    expect(ruleProblem('enum', { one_of: ['a', 'b'] }, 'b')).toBeNull();
    expect(ruleProblem('string', { one_of: ['x'] }, 'y')).toBe('must be one of x');
  });

  it('lengths count characters, not bytes', () => {
    const r = { min_length: 2, max_length: 3 };
    expect(ruleProblem('string', r, 'a')).toBe('must be at least 2 characters');
    expect(ruleProblem('string', r, 'abcd')).toBe('must be at most 3 characters');
    expect(ruleProblem('string', r, 'äöü')).toBeNull();
    expect(ruleProblem('secret', r, '🙂🙂')).toBeNull();
    expect(ruleProblem('secret', { min_length: 8 }, 'short')).toBe('must be at least 8 characters');
  });

  it('regex must match the whole value (anchored around alternations)', () => {
    const r = { regex: '[a-z]+|[0-9]+' };
    expect(ruleProblem('string', r, 'abc')).toBeNull();
    expect(ruleProblem('string', r, '123')).toBeNull();
    expect(ruleProblem('string', r, 'abc1')).toBe('must match [a-z]+|[0-9]+');
    expect(ruleProblem('string', r, '1abc')).toBe('must match [a-z]+|[0-9]+');
    expect(ruleProblem('string', { regex: '\\d{3}' }, 'x123x')).not.toBeNull();
  });

  it('a regex JavaScript cannot compile is left to the server', () => {
    expect(ruleProblem('string', { regex: '(?i)abc' }, 'ABC')).toBeNull();
  });

  it('refuses control characters, even in optional values', () => {
    expect(ruleProblem('string', {}, 'x\ny')).toBe('must be one line without control characters');
    expect(ruleProblem('string', {}, 'tab\there')).toBe('must be one line without control characters');
    expect(ruleProblem('string', {}, 'c1\u0085')).toBe('must be one line without control characters');
    expect(ruleProblem('string', {}, 'unicode ✓')).toBeNull();
  });

  it('names the variable like the 422 does', () => {
    expect(checkVariable(v({ name: 'Start-up delay (ms)', type: 'integer', rules: { max: 999999 } }), '9999999')).toBe(
      'Start-up delay (ms) must be at most 999999',
    );
    expect(checkVariable(v({}), 'ok')).toBeNull();
  });
});

describe('inputs for variable types', () => {
  it('picks the input and its limits', () => {
    expect(inputSpec(v({ type: 'integer', rules: { min: 1, max: 10 } }))).toEqual({ kind: 'number', min: 1, max: 10 });
    expect(inputSpec(v({ type: 'integer' }))).toEqual({ kind: 'number' });
    expect(inputSpec(v({ type: 'boolean' })).kind).toBe('checkbox');
    expect(inputSpec(v({ type: 'secret', rules: { max_length: 64 } }))).toEqual({ kind: 'password', maxlength: 64 });
    expect(inputSpec(v({ type: 'string', rules: { max_length: 20, min_length: 2 } }))).toEqual({
      kind: 'text',
      maxlength: 20,
      minlength: 2,
    });
  });

  it('enums get a select, with an empty choice only when optional', () => {
    expect(inputSpec(v({ type: 'enum', rules: { one_of: ['a', 'b'], required: true } })).options).toEqual([
      { value: 'a', label: 'a' },
      { value: 'b', label: 'b' },
    ]);
    expect(inputSpec(v({ type: 'enum', rules: { one_of: ['a'] } })).options?.[0]).toEqual({ value: '', label: '—' });
  });

  it('booleans keep their spelling', () => {
    expect(isTrue('true')).toBe(true);
    expect(isTrue('1')).toBe(true);
    expect(isTrue('false')).toBe(false);
    expect(boolValue(true, '0')).toBe('1');
    expect(boolValue(false, '1')).toBe('0');
    expect(boolValue(true, 'false')).toBe('true');
    expect(boolValue(false, '')).toBe('false');
  });
});

describe('who sees and changes what', () => {
  it('hides variables users may not see, from users only', () => {
    const vars = [v({ key: 'a' }), v({ key: 'b', user_viewable: false })];
    expect(visibleVariables(vars, false).map((x) => x.key)).toEqual(['a']);
    expect(visibleVariables(vars, true).map((x) => x.key)).toEqual(['a', 'b']);
  });

  it('tells admins what users may not do', () => {
    expect(adminNote(v({ user_viewable: false, user_editable: false }), true)).toBe('Hidden from users.');
    expect(adminNote(v({ user_editable: false }), true)).toBe('Users cannot change this.');
    expect(adminNote(v({}), true)).toBeNull();
    expect(adminNote(v({ user_viewable: false }), false)).toBeNull();
  });

  it('read-only for users when not user_editable; the API flag wins', () => {
    expect(mayEdit(v({ user_editable: false }), false)).toBe(false);
    expect(mayEdit(v({ user_editable: false }), true)).toBe(true);
    expect(mayEdit({ user_editable: true, editable: false }, true)).toBe(false);
  });
});

describe('changes and checks', () => {
  it('sends only what changed', () => {
    expect(changedValues({ a: '1', b: '2' }, { a: '1', b: '3' })).toEqual({ b: '3' });
    expect(changedValues({ a: '1' }, { a: '1' })).toEqual({});
  });

  it('checks every value, skipping a masked secret', () => {
    const vars = [
      v({ key: 'n', name: 'N', type: 'integer', rules: { max: 5 } }),
      v({ key: 's', name: 'S', type: 'secret', rules: { min_length: 20 } }),
      v({ key: 'r', name: 'R', rules: { required: true } }),
    ];
    expect(checkAll(vars, { n: '6', s: SECRET_MASK, r: '' })).toEqual({
      'variables.n': 'N must be at most 5',
      'variables.r': 'R is required',
    });
    expect(checkAll(vars, { n: '5', s: 'x', r: 'y' })).toEqual({ 'variables.s': 'S must be at least 20 characters' });
  });
});
