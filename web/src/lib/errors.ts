import { ApiError } from './api';

/** Errors to show in a form: one per field, plus one for the form as a whole. */
export interface FormErrors {
  fields: Record<string, string>;
  general: string | null;
}

export const noErrors = (): FormErrors => ({ fields: {}, general: null });

/**
 * Places an error next to the field it names (`name`, `port`, `variables.map_size`,
 * `restart.max_restarts`, ...) when the form has that field, else above the form.
 * `messages` overrides the text for particular codes or statuses.
 */
export function formErrors(
  err: unknown,
  knownFields: Iterable<string>,
  messages: Partial<Record<string | number, string>> = {},
): FormErrors {
  if (!(err instanceof ApiError)) {
    return { fields: {}, general: err instanceof Error ? err.message : String(err) };
  }
  const message = messages[err.code] ?? messages[err.status] ?? err.message;
  const known = new Set(knownFields);
  if (err.field && known.has(err.field)) {
    return { fields: { [err.field]: message }, general: null };
  }
  return { fields: {}, general: message };
}

/** The message for a failed action outside a form (power buttons, deletes, ...). */
export function actionError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 409 && err.state) return `${err.message} (server is ${err.state})`;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

/** The element id of a field's error message (for aria-describedby). */
export function errId(field: string): string {
  return 'err-' + field.replace(/[^A-Za-z0-9_-]/g, '-');
}
