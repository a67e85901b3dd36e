// Which syntax the editor highlights a file with, chosen by its name, and the loader of
// each language (separate chunks, fetched when a file of that kind is opened).

import type { Extension } from '@codemirror/state';

export type EditorLanguage =
  | 'json'
  | 'yaml'
  | 'xml'
  | 'html'
  | 'javascript'
  | 'typescript'
  | 'properties'
  | 'ini'
  | 'toml'
  | 'shell'
  | 'lua'
  | 'python'
  | 'css';

const BY_EXTENSION: Record<string, EditorLanguage> = {
  json: 'json',
  json5: 'json',
  jsonc: 'json',
  mcmeta: 'json',
  yml: 'yaml',
  yaml: 'yaml',
  xml: 'xml',
  svg: 'xml',
  plist: 'xml',
  xsd: 'xml',
  html: 'html',
  htm: 'html',
  xhtml: 'html',
  js: 'javascript',
  mjs: 'javascript',
  cjs: 'javascript',
  jsx: 'javascript',
  ts: 'typescript',
  mts: 'typescript',
  cts: 'typescript',
  tsx: 'typescript',
  properties: 'properties',
  lang: 'properties',
  env: 'properties',
  ini: 'ini',
  cfg: 'ini',
  conf: 'ini',
  toml: 'toml',
  sh: 'shell',
  bash: 'shell',
  zsh: 'shell',
  command: 'shell',
  lua: 'lua',
  py: 'python',
  css: 'css',
};

/** Whole file names that say more than their extension. */
const BY_NAME: Record<string, EditorLanguage> = {
  '.env': 'properties',
  '.bashrc': 'shell',
  '.profile': 'shell',
  'server.properties': 'properties',
  'cargo.lock': 'toml',
  'pipfile': 'toml',
};

/** The language of a file by its name (a path works too); null for plain text. */
export function languageFor(path: string): EditorLanguage | null {
  const name = (path.split('/').pop() ?? '').toLowerCase();
  if (BY_NAME[name]) return BY_NAME[name];
  if (name.startsWith('.env.')) return 'properties';
  const i = name.lastIndexOf('.');
  if (i <= 0) return null;
  return BY_EXTENSION[name.slice(i + 1)] ?? null;
}

export const LANGUAGE_LABELS: Record<EditorLanguage, string> = {
  json: 'JSON',
  yaml: 'YAML',
  xml: 'XML',
  html: 'HTML',
  javascript: 'JavaScript',
  typescript: 'TypeScript',
  properties: 'Properties',
  ini: 'INI',
  toml: 'TOML',
  shell: 'Shell',
  lua: 'Lua',
  python: 'Python',
  css: 'CSS',
};

/** What the editor shows as the file's type. */
export function languageLabel(lang: EditorLanguage | null): string {
  return lang ? LANGUAGE_LABELS[lang] : 'Plain text';
}

/** The CodeMirror extension for a language, loaded on demand. */
export async function loadLanguage(lang: EditorLanguage | null): Promise<Extension> {
  const legacy = async (load: () => Promise<import('@codemirror/language').StreamParser<unknown>>) => {
    const [{ StreamLanguage }, parser] = await Promise.all([import('@codemirror/language'), load()]);
    return StreamLanguage.define(parser);
  };
  switch (lang) {
    case 'json':
      return (await import('@codemirror/lang-json')).json();
    case 'yaml':
      return (await import('@codemirror/lang-yaml')).yaml();
    case 'xml':
      return (await import('@codemirror/lang-xml')).xml();
    case 'html':
      return (await import('@codemirror/lang-html')).html();
    case 'javascript':
      return (await import('@codemirror/lang-javascript')).javascript({ jsx: true });
    case 'typescript':
      return (await import('@codemirror/lang-javascript')).javascript({ typescript: true, jsx: true });
    // The properties mode also knows `[section]` headers and `;` comments: INI files.
    case 'properties':
    case 'ini':
      return legacy(async () => (await import('@codemirror/legacy-modes/mode/properties')).properties);
    case 'toml':
      return legacy(async () => (await import('@codemirror/legacy-modes/mode/toml')).toml);
    case 'shell':
      return legacy(async () => (await import('@codemirror/legacy-modes/mode/shell')).shell);
    case 'lua':
      return legacy(async () => (await import('@codemirror/legacy-modes/mode/lua')).lua);
    case 'python':
      return legacy(async () => (await import('@codemirror/legacy-modes/mode/python')).python);
    case 'css':
      return legacy(async () => (await import('@codemirror/legacy-modes/mode/css')).css);
    default:
      return [];
  }
}
