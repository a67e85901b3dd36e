// The file editor's CodeMirror 6 setup. Imported only by a dynamic import from the
// editor component, so CodeMirror is its own chunk, fetched when a file is opened.

import { basicSetup } from 'codemirror';
import { indentWithTab } from '@codemirror/commands';
import { HighlightStyle, syntaxHighlighting } from '@codemirror/language';
import { Compartment, EditorState, type Text } from '@codemirror/state';
import { EditorView, keymap } from '@codemirror/view';
import { tags as t } from '@lezer/highlight';
import { loadLanguage, type EditorLanguage } from './editor-lang';

// Colours from CSS variables (app.css), so light and dark mode both read well.
const highlight = HighlightStyle.define([
  { tag: [t.keyword, t.operatorKeyword, t.modifier, t.controlKeyword], color: 'var(--cm-keyword)' },
  { tag: [t.string, t.special(t.string), t.regexp], color: 'var(--cm-string)' },
  { tag: [t.number, t.bool, t.null, t.atom], color: 'var(--cm-number)' },
  { tag: [t.comment, t.lineComment, t.blockComment, t.meta], color: 'var(--cm-comment)', fontStyle: 'italic' },
  { tag: [t.propertyName, t.attributeName, t.definition(t.propertyName)], color: 'var(--cm-property)' },
  { tag: [t.variableName, t.definition(t.variableName)], color: 'var(--cm-variable)' },
  { tag: [t.typeName, t.className, t.tagName, t.heading], color: 'var(--cm-type)' },
  { tag: [t.function(t.variableName), t.function(t.propertyName)], color: 'var(--cm-function)' },
  { tag: t.invalid, color: 'var(--danger)' },
]);

const theme = EditorView.theme({
  '&': {
    backgroundColor: 'var(--surface)',
    color: 'var(--text)',
    border: '1px solid var(--border)',
    borderRadius: 'var(--radius)',
    fontSize: '0.92rem',
    height: '100%',
  },
  '&.cm-focused': { outline: '3px solid var(--focus)', outlineOffset: '2px' },
  '.cm-scroller': { fontFamily: 'var(--mono)', lineHeight: '1.5' },
  '.cm-content': { caretColor: 'var(--text)' },
  '.cm-cursor, .cm-dropCursor': { borderLeftColor: 'var(--text)' },
  '.cm-gutters': { backgroundColor: 'var(--surface-2)', color: 'var(--muted)', borderRight: '1px solid var(--border)' },
  '.cm-activeLine': { backgroundColor: 'color-mix(in srgb, var(--accent) 7%, transparent)' },
  '.cm-activeLineGutter': { backgroundColor: 'color-mix(in srgb, var(--accent) 14%, transparent)' },
  '&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground, ::selection': {
    backgroundColor: 'color-mix(in srgb, var(--focus) 28%, transparent)',
  },
  '.cm-panels': { backgroundColor: 'var(--surface-2)', color: 'var(--text)' },
  '.cm-tooltip': { backgroundColor: 'var(--surface)', border: '1px solid var(--border)' },
});

export interface EditorOptions {
  doc: string;
  language: EditorLanguage | null;
  readOnly: boolean;
  /** After every change: whether the text differs from what was loaded or last saved. */
  onDirty: (dirty: boolean) => void;
}

export interface FileEditorHandle {
  text(): string;
  /** The text now counts as saved. */
  markSaved(text?: string): void;
  /** Replace everything (a reload from disk); counts as saved. */
  reset(doc: string): void;
  setReadOnly(readOnly: boolean): void;
  focus(): void;
  destroy(): void;
}

/** Builds the editor in `parent`; the language arrives when its chunk has loaded. */
export function createEditor(parent: HTMLElement, o: EditorOptions): FileEditorHandle {
  const lang = new Compartment();
  const ro = new Compartment();
  let saved: Text | null = null;
  const readOnly = (v: boolean) => [EditorState.readOnly.of(v), EditorView.editable.of(!v)];

  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: o.doc,
      extensions: [
        basicSetup,
        keymap.of([indentWithTab]),
        syntaxHighlighting(highlight),
        theme,
        lang.of([]),
        ro.of(readOnly(o.readOnly)),
        EditorView.contentAttributes.of({ 'aria-label': 'File content', 'data-testid': 'editor-content' }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) o.onDirty(!(saved && u.state.doc.eq(saved)));
        }),
      ],
    }),
  });
  saved = view.state.doc;

  loadLanguage(o.language).then(
    (ext) => view.dispatch({ effects: lang.reconfigure(ext) }),
    () => {
      /* plain text then */
    },
  );

  return {
    text: () => view.state.doc.toString(),
    markSaved(text) {
      // What was sent may be older than what is shown now (typed during the save).
      saved = text === undefined ? view.state.doc : view.state.toText(text);
      o.onDirty(!view.state.doc.eq(saved));
    },
    reset(doc) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: doc } });
      saved = view.state.doc;
      o.onDirty(false);
    },
    setReadOnly(v) {
      view.dispatch({ effects: ro.reconfigure(readOnly(v)) });
    },
    focus: () => view.focus(),
    destroy: () => view.destroy(),
  };
}
