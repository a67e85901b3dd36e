// Templates in the UI: grouped for the picker, summed up for an import preview, and
// the import report in words. Pure, so it can be tested.

import type { ImportReport, PortProtocol, Template } from './types';

export interface TemplateGroup {
  category: string;
  label: string;
  templates: Template[];
}

/** "demo" → "Demo", "" → "Other". */
export function categoryLabel(category: string): string {
  const c = category.trim();
  if (!c) return 'Other';
  return c
    .split(/[\s_-]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join(' ');
}

/** Templates by category (alphabetical; uncategorised and "other" last, together), each group by name. */
export function groupByCategory(templates: Template[]): TemplateGroup[] {
  const groups = new Map<string, Template[]>();
  for (const t of templates) {
    const raw = (t.category ?? '').trim().toLowerCase();
    const key = raw === 'other' ? '' : raw;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(t);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a === '' ? 1 : b === '' ? -1 : a.localeCompare(b)))
    .map(([category, list]) => ({
      category,
      label: categoryLabel(category),
      templates: [...list].sort((a, b) => a.name.localeCompare(b.name)),
    }));
}

const PROTOCOLS: Record<PortProtocol, string> = { tcp: 'TCP', udp: 'UDP', tcp_udp: 'TCP+UDP' };

export const protocolLabel = (p: PortProtocol | undefined) => PROTOCOLS[p ?? 'tcp'] ?? String(p);

/** The first port's default, the one a new server gets when it is free. */
export function defaultPort(t: Pick<Template, 'ports'> | null | undefined): number | null {
  return t?.ports?.[0]?.default ?? null;
}

export interface SummaryRow {
  label: string;
  value: string;
}

/** A template in a few lines: what an admin checks before saving an import. */
export function templateSummary(t: Template): SummaryRow[] {
  const rows: SummaryRow[] = [
    { label: 'Name', value: t.name },
    { label: 'Id', value: t.id },
    { label: 'Game', value: t.game },
  ];
  if (t.category) rows.push({ label: 'Category', value: t.category });
  rows.push({
    label: 'Ports',
    value: t.ports.length
      ? t.ports
          .map((p, i) => `${p.name} ${i === 0 ? (p.default ?? 'any') : `+${p.offset}`}/${protocolLabel(p.protocol)}`)
          .join(', ')
      : 'none',
  });
  rows.push({
    label: 'Variables',
    value: t.variables.length ? t.variables.map((v) => `${v.name} (${v.type})`).join(', ') : 'none',
  });
  rows.push({
    label: 'Install',
    value: t.install.length ? t.install.map((s, i) => `${i + 1}. ${s.type}`).join(', ') : 'no install steps',
  });
  rows.push({ label: 'Start', value: t.startup.command.join(' ') });
  const runtimes: string[] = [];
  if (t.runtimes?.native) runtimes.push('native');
  for (const d of t.runtimes?.docker ?? []) runtimes.push(`Docker: ${d.name}`);
  if (runtimes.length) rows.push({ label: 'Runtimes', value: runtimes.join(', ') });
  const needs: string[] = [];
  if (t.requirements?.docker) needs.push('Docker');
  if (t.requirements?.java) needs.push(`Java ${t.requirements.java}+`);
  if (t.requirements?.min_memory_mb) needs.push(`${t.requirements.min_memory_mb} MB memory`);
  if (t.requirements?.binaries?.length) needs.push(t.requirements.binaries.join(', '));
  if (needs.length) rows.push({ label: 'Needs', value: needs.join(', ') });
  return rows;
}

export interface ReportView {
  /** "Converted from the Pterodactyl egg “Paper” (PTDL_v2)." */
  headline: string;
  /** Shown as a warning when set. */
  docker: string | null;
  unmapped: string[];
  notes: string[];
  /** Nothing was left out. */
  clean: boolean;
}

const EGG_FAMILIES: [RegExp, string][] = [
  [/^PTDL_/i, 'Pterodactyl egg'],
  [/^PLCN_/i, 'Pelican egg'],
];

/** The import report in words, for the preview before saving. */
export function formatImportReport(report: ImportReport | null, format: string): ReportView {
  if (!report) {
    const what = format === 'json' ? 'a Garrison template (JSON)' : format === 'toml' ? 'a Garrison template (TOML)' : `a ${format} file`;
    return { headline: `Read as ${what}; nothing needed converting.`, docker: null, unmapped: [], notes: [], clean: true };
  }
  const family = EGG_FAMILIES.find(([re]) => re.test(report.format))?.[1] ?? 'egg';
  const name = report.source_name ? ` “${report.source_name}”` : '';
  const version = report.format ? ` (${report.format})` : '';
  const unmapped = report.unmapped.filter((s) => s.trim() !== '');
  const notes = report.notes.filter((s) => s.trim() !== '');
  return {
    headline: `Converted from the ${family}${name}${version}.`,
    docker: report.requires_docker
      ? 'Requires Docker: its install runs in a container, so servers from it need a node with a container engine.'
      : null,
    unmapped,
    notes,
    clean: unmapped.length === 0 && !report.requires_docker,
  };
}

/** "3 items were not carried over" / "Everything was carried over". */
export function unmappedSummary(n: number): string {
  if (n === 0) return 'Everything was carried over.';
  return n === 1 ? '1 item was not carried over:' : `${n} items were not carried over:`;
}
