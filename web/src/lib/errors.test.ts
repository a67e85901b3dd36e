import { describe, expect, it } from 'vitest';
import { ApiError, cookieValue, isSessionLost, toApiError } from './api';
import { actionError, errId, formErrors } from './errors';

const invalid = (field: string, message = 'bad') =>
  toApiError(422, { error: { code: 'invalid_value', message, field } });

describe('API errors', () => {
  it('reads the error shape', () => {
    const e = toApiError(409, { error: { code: 'conflict', message: 'cannot', state: 'running' } });
    expect(e).toBeInstanceOf(ApiError);
    expect(e.code).toBe('conflict');
    expect(e.state).toBe('running');
    expect(actionError(e)).toBe('cannot (server is running)');
  });

  it('copes with answers that are not the JSON shape', () => {
    expect(toApiError(502, null).message).toMatch(/HTTP 502/);
    expect(toApiError(0, null).code).toBe('network');
  });

  it('tells a lost session from a wrong password', () => {
    expect(isSessionLost(toApiError(401, { error: { code: 'unauthorized', message: 'x' } }))).toBe(true);
    expect(isSessionLost(toApiError(401, { error: { code: 'invalid_credentials', message: 'x' } }))).toBe(false);
    expect(isSessionLost(toApiError(403, { error: { code: 'forbidden', message: 'x' } }))).toBe(false);
  });
});

describe('formErrors', () => {
  const known = ['name', 'port', 'variables.map_size', 'restart.max_restarts'];

  it('puts the message next to a named field', () => {
    expect(formErrors(invalid('port', 'port must be between 1 and 65535'), known)).toEqual({
      fields: { port: 'port must be between 1 and 65535' },
      general: null,
    });
    expect(formErrors(invalid('variables.map_size'), known).fields).toEqual({ 'variables.map_size': 'bad' });
    expect(formErrors(invalid('restart.max_restarts'), known).fields).toHaveProperty('restart.max_restarts');
  });

  it('falls back to the form when the field is not on it', () => {
    expect(formErrors(invalid('spec', 'nope'), known)).toEqual({ fields: {}, general: 'nope' });
    expect(formErrors(toApiError(500, { error: { code: 'internal', message: 'internal error' } }), known).general).toBe(
      'internal error',
    );
    expect(formErrors(new Error('boom'), known).general).toBe('boom');
  });

  it('overrides messages by code or status', () => {
    const e = toApiError(401, { error: { code: 'invalid_credentials', message: 'wrong username or password' } });
    expect(formErrors(e, [], { invalid_credentials: 'Wrong username or password' }).general).toBe(
      'Wrong username or password',
    );
    const c = toApiError(409, { error: { code: 'conflict', message: 'x' } });
    expect(formErrors(c, [], { 409: 'Stop the server first' }).general).toBe('Stop the server first');
  });

  it('makes safe element ids', () => {
    expect(errId('variables.map_size')).toBe('err-variables-map_size');
  });
});

describe('cookieValue', () => {
  it('finds the CSRF cookie among others', () => {
    expect(cookieValue('a=1; garrison_csrf=abc=; b=2', 'garrison_csrf')).toBe('abc=');
    expect(cookieValue('garrison_csrf=x', 'garrison_csrf')).toBe('x');
    expect(cookieValue('a=1', 'garrison_csrf')).toBeUndefined();
    expect(cookieValue('', 'garrison_csrf')).toBeUndefined();
  });
});
