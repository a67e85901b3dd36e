import { describe, expect, it } from 'vitest';
import { EditorState } from '@codemirror/state';
import { language } from '@codemirror/language';
import { languageFor, languageLabel, loadLanguage } from './editor-lang';

describe('languageFor', () => {
  it('chooses by extension, case-insensitively', () => {
    expect(languageFor('config.json')).toBe('json');
    expect(languageFor('pack.mcmeta')).toBe('json');
    expect(languageFor('plugins/Essentials/config.YML')).toBe('yaml');
    expect(languageFor('a.yaml')).toBe('yaml');
    expect(languageFor('log4j2.xml')).toBe('xml');
    expect(languageFor('index.html')).toBe('html');
    expect(languageFor('scripts/main.js')).toBe('javascript');
    expect(languageFor('main.ts')).toBe('typescript');
    expect(languageFor('server.properties')).toBe('properties');
    expect(languageFor('en_us.lang')).toBe('properties');
    expect(languageFor('openttd.cfg')).toBe('ini');
    expect(languageFor('Server.ini')).toBe('ini');
    expect(languageFor('Cargo.toml')).toBe('toml');
    expect(languageFor('start.sh')).toBe('shell');
    expect(languageFor('mods/init.lua')).toBe('lua');
    expect(languageFor('tool.py')).toBe('python');
  });

  it('knows some files by their whole name', () => {
    expect(languageFor('.env')).toBe('properties');
    expect(languageFor('.env.local')).toBe('properties');
    expect(languageFor('home/.bashrc')).toBe('shell');
  });

  it('leaves everything else plain', () => {
    expect(languageFor('eula.txt')).toBeNull();
    expect(languageFor('latest.log')).toBeNull();
    expect(languageFor('Makefile')).toBeNull();
    expect(languageFor('.hidden')).toBeNull();
    expect(languageFor('world/level.dat')).toBeNull();
    expect(languageFor('')).toBeNull();
    expect(languageLabel(null)).toBe('Plain text');
    expect(languageLabel('yaml')).toBe('YAML');
  });
});

describe('loadLanguage', () => {
  const nameOf = async (file: string) => {
    const state = EditorState.create({ doc: 'a = 1', extensions: [await loadLanguage(languageFor(file))] });
    return state.facet(language)?.name ?? null;
  };

  it('gives CodeMirror the language of the file', async () => {
    expect(await nameOf('a.json')).toBe('json');
    expect(await nameOf('a.yml')).toBe('yaml');
    expect(await nameOf('a.xml')).toBe('xml');
    expect(await nameOf('a.html')).toBe('html');
    expect(await nameOf('a.js')).toBe('javascript');
    expect(await nameOf('a.ts')).toBe('typescript');
    expect(await nameOf('server.properties')).toBe('properties');
    expect(await nameOf('a.ini')).toBe('properties');
    expect(await nameOf('a.toml')).toBe('toml');
    expect(await nameOf('a.sh')).toBe('shell');
  });

  it('gives nothing for plain text', async () => {
    expect(await nameOf('notes.txt')).toBeNull();
  });
});
