import { describe, expect, it } from 'vitest';
import { categoryLabel, defaultPort, formatImportReport, groupByCategory, templateSummary, unmappedSummary } from './templates';
import type { Template } from './types';

const t = (over: Partial<Template>): Template => ({
  id: 'x',
  name: 'X',
  game: 'x',
  description: '',
  category: '',
  tags: [],
  startup: { command: ['run', '{{port}}'], shell: false, done: [], stop: {}, stop_timeout_secs: 5, restart_exit_codes: [] },
  variables: [],
  ports: [{ name: 'game', protocol: 'tcp', default: 27500, offset: 0 }],
  install: [],
  config_files: [],
  env: {},
  runtimes: { native: true },
  requirements: { docker: false },
  prompts: [],
  origin: 'built_in',
  ...over,
});

describe('groupByCategory', () => {
  it('groups by category, alphabetically, uncategorised last, names sorted', () => {
    const groups = groupByCategory([
      t({ id: 'b', name: 'Beta', category: 'sandbox' }),
      t({ id: 'o', name: 'Other one', category: '' }),
      t({ id: 'a', name: 'Alpha', category: 'Sandbox' }),
      t({ id: 'd', name: 'Demo', category: 'demo' }),
      t({ id: 'g', name: 'Generic', category: 'other' }),
    ]);
    expect(groups.map((g) => g.label)).toEqual(['Demo', 'Sandbox', 'Other']);
    expect(groups[1].templates.map((x) => x.id)).toEqual(['a', 'b']);
    expect(groups[2].templates.map((x) => x.id)).toEqual(['g', 'o']);
  });

  it('labels categories', () => {
    expect(categoryLabel('survival_games')).toBe('Survival Games');
    expect(categoryLabel('  ')).toBe('Other');
  });
});

describe('templateSummary', () => {
  it('sums a template up', () => {
    const rows = templateSummary(
      t({
        id: 'paper',
        name: 'Paper',
        game: 'paper',
        category: 'imported',
        ports: [
          { name: 'game', protocol: 'tcp_udp', default: 25565, offset: 0 },
          { name: 'query', protocol: 'udp', offset: 1 },
        ],
        variables: [
          { key: 'v', name: 'Version', description: '', type: 'string', default: '', user_viewable: true, user_editable: true, rules: {} },
        ],
        install: [{ type: 'script' }],
        runtimes: { native: true, docker: [{ name: 'Java 21', image: 'yolks:java_21' }] },
        requirements: { docker: true, java: 21 },
      }),
    );
    const get = (l: string) => rows.find((r) => r.label === l)?.value;
    expect(get('Ports')).toBe('game 25565/TCP+UDP, query +1/UDP');
    expect(get('Variables')).toBe('Version (string)');
    expect(get('Install')).toBe('1. script');
    expect(get('Runtimes')).toBe('native, Docker: Java 21');
    expect(get('Needs')).toBe('Docker, Java 21+');
    expect(get('Category')).toBe('imported');
    expect(defaultPort(t({}))).toBe(27500);
    expect(defaultPort(null)).toBeNull();
  });
});

describe('formatImportReport', () => {
  it('words an egg report, with the Docker warning', () => {
    const v = formatImportReport(
      {
        format: 'PTDL_v2',
        source_name: 'Paper',
        unmapped: ['features: eula, java_version (no equivalent)', ''],
        notes: ['no ports in the egg: the template uses port 25565'],
        requires_docker: true,
      },
      'egg',
    );
    expect(v.headline).toBe('Converted from the Pterodactyl egg “Paper” (PTDL_v2).');
    expect(v.docker).toMatch(/^Requires Docker/);
    expect(v.unmapped).toEqual(['features: eula, java_version (no equivalent)']);
    expect(v.notes).toHaveLength(1);
    expect(v.clean).toBe(false);
  });

  it('knows Pelican eggs and clean imports', () => {
    const v = formatImportReport({ format: 'PLCN_v3', source_name: 'Vanilla', unmapped: [], notes: [], requires_docker: false }, 'egg');
    expect(v.headline).toBe('Converted from the Pelican egg “Vanilla” (PLCN_v3).');
    expect(v.docker).toBeNull();
    expect(v.clean).toBe(true);
  });

  it('a Garrison template has no report', () => {
    expect(formatImportReport(null, 'toml')).toMatchObject({ headline: 'Read as a Garrison template (TOML); nothing needed converting.', clean: true });
    expect(formatImportReport(null, 'json').headline).toContain('JSON');
  });

  it('counts what was left out', () => {
    expect(unmappedSummary(0)).toBe('Everything was carried over.');
    expect(unmappedSummary(1)).toBe('1 item was not carried over:');
    expect(unmappedSummary(3)).toBe('3 items were not carried over:');
  });
});
