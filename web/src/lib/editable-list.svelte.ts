import { del, get } from './api';
import { actionError } from './errors';

/**
 * A list an admin edits in place (alert rules, maintenance windows): loaded from one
 * URL, one editor open at a time (`'new'` or the item), saved items merged in, and
 * delete behind a confirm dialog whose error stays in the dialog.
 */
export class EditableList<T extends { id: string }> {
  items = $state<T[] | null>(null);
  loadError = $state<string | null>(null);
  editing = $state<'new' | T | null>(null);
  deleteOf = $state<T | null>(null);
  deleteOpen = $state(false);
  deleting = $state(false);
  deleteError = $state<string | null>(null);

  /** `url()` lists and creates; `url(id)` is one item. */
  constructor(private url: (id?: string) => string) {}

  load = async () => {
    try {
      this.items = await get<T[]>(this.url());
      this.loadError = null;
    } catch (e) {
      this.loadError = actionError(e);
    }
  };

  saved = (x: T) => {
    const list = this.items ?? [];
    this.items = list.some((y) => y.id === x.id) ? list.map((y) => (y.id === x.id ? x : y)) : [...list, x];
    this.editing = null;
  };

  askDelete = (x: T) => {
    this.deleteOf = x;
    this.deleteError = null;
    this.deleteOpen = true;
  };

  confirmDelete = async () => {
    const x = this.deleteOf;
    if (!x || this.deleting) return;
    this.deleting = true;
    try {
      await del(this.url(x.id));
      this.items = (this.items ?? []).filter((y) => y.id !== x.id);
      if (this.editing !== 'new' && this.editing?.id === x.id) this.editing = null;
      this.deleteOpen = false;
    } catch (e) {
      this.deleteError = actionError(e);
    } finally {
      this.deleting = false;
    }
  };
}
