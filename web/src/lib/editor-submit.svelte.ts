import type { FormErrors } from './errors';

/**
 * Saving an editor's form (alert rules, maintenance windows, channels): the browser's
 * checks first (shown from the first try on), then the request; the API's 422 goes
 * under the input it names, anything else above the buttons, and the first marked
 * input gets the focus.
 */
export class EditorSubmit {
  saving = $state(false);
  tried = $state(false);
  serverFields = $state<Record<string, string>>({});
  general = $state<string | null>(null);

  /** `testid`: the form's `data-testid`, to find its first invalid input. */
  constructor(private testid: string) {}

  async submit(e: SubmitEvent, validate: () => Record<string, string>, send: () => Promise<void>, errors: (err: unknown) => FormErrors) {
    e.preventDefault();
    if (this.saving) return;
    this.tried = true;
    this.serverFields = {};
    this.general = null;
    if (Object.keys(validate()).length) return this.focusFirst();
    this.saving = true;
    try {
      await send();
    } catch (err) {
      const r = errors(err);
      this.serverFields = r.fields;
      this.general = r.general ?? (Object.keys(r.fields).length ? 'Fix the marked fields.' : null);
      this.focusFirst();
    } finally {
      this.saving = false;
    }
  }

  private focusFirst() {
    queueMicrotask(() => document.querySelector<HTMLElement>(`[data-testid="${this.testid}"] [aria-invalid="true"]`)?.focus());
  }
}
