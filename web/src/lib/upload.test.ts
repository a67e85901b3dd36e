import { describe, expect, it } from 'vitest';
import { ApiError } from './api';
import type { UploadState } from './files';
import { UploadQueue, UploadTask, type UploadTransport } from './upload';

/**
 * A server that keeps the bytes it received, refuses chunks at the wrong offset like the
 * real one (409 upload_conflict), and can be told to fail the next requests.
 */
class FakeServer implements UploadTransport {
  uploads = new Map<string, { path: string; size: number; bytes: number[]; done: boolean }>();
  files = new Map<string, number[]>();
  existing = new Set<string>();
  calls: string[] = [];
  /** Failures for upcoming chunk requests: status (0 = network), after sending `after` bytes. */
  chunkFailures: { status: number; code?: string; after?: number }[] = [];
  stateFailures: number[] = [];
  aborted: string[] = [];
  quota = Infinity;
  private n = 0;

  private view(id: string): UploadState {
    const u = this.uploads.get(id)!;
    return { id, path: u.path, size: u.size, offset: u.bytes.length, done: u.done };
  }

  async begin(path: string, size: number, overwrite: boolean) {
    this.calls.push(`begin ${path} ${size} ${overwrite}`);
    if (this.existing.has(path) && !overwrite) throw new ApiError(409, { code: 'file_exists', message: `${path} exists already` });
    if (size > this.quota) throw new ApiError(413, { code: 'quota_exceeded', message: 'The disk limit would be exceeded' });
    const id = `u${++this.n}`;
    this.uploads.set(id, { path, size, bytes: [], done: false });
    return this.view(id);
  }

  async chunk(id: string, offset: number, body: Blob, progress: (n: number) => void, signal: AbortSignal) {
    this.calls.push(`chunk ${id} ${offset} ${body.size}`);
    const u = this.uploads.get(id);
    if (!u) throw new ApiError(404, { code: 'upload_conflict', message: 'unknown upload' });
    const data = [...new Uint8Array(await body.arrayBuffer())];
    const fail = this.chunkFailures.shift();
    if (fail) {
      // Part of the chunk arrived before the connection broke.
      const kept = data.slice(0, fail.after ?? 0);
      if (offset === u.bytes.length) u.bytes.push(...kept);
      progress(kept.length);
      throw new ApiError(fail.status, { code: fail.code ?? (fail.status === 0 ? 'network' : 'http'), message: `failed with ${fail.status}` });
    }
    if (signal.aborted) throw new ApiError(0, { code: 'aborted', message: 'Cancelled' });
    if (offset !== u.bytes.length) throw new ApiError(409, { code: 'upload_conflict', message: `expected offset ${u.bytes.length}` });
    progress(Math.floor(data.length / 2));
    u.bytes.push(...data);
    progress(data.length);
    if (u.bytes.length === u.size) {
      u.done = true;
      this.files.set(u.path, u.bytes);
    }
    return this.view(id);
  }

  async state(id: string) {
    this.calls.push(`state ${id}`);
    const f = this.stateFailures.shift();
    if (f !== undefined) throw new ApiError(f, { code: 'http', message: `state failed with ${f}` });
    if (!this.uploads.has(id)) throw new ApiError(404, { code: 'upload_conflict', message: 'unknown upload' });
    return this.view(id);
  }

  async abort(id: string) {
    this.aborted.push(id);
    this.uploads.delete(id);
  }
}

const bytes = (n: number) => new Blob([Uint8Array.from({ length: n }, (_, i) => i % 251)]);
const expected = (n: number) => Array.from({ length: n }, (_, i) => i % 251);
const noSleep = async () => {};

describe('UploadTask', () => {
  it('sends a file in chunks and ends done at 100 %', async () => {
    const server = new FakeServer();
    const seen: number[] = [];
    const task = new UploadTask(bytes(25), 'world/a.bin', server, { chunkSize: 10, onchange: (t) => seen.push(t.percent) });
    await task.run();
    expect(task.status).toBe('done');
    expect(task.percent).toBe(100);
    expect(server.files.get('world/a.bin')).toEqual(expected(25));
    expect(server.calls).toEqual(['begin world/a.bin 25 false', 'chunk u1 0 10', 'chunk u1 10 10', 'chunk u1 20 5']);
    // Progress only goes up, and shows 100 only at the end.
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(seen.at(-1)).toBe(100);
    expect(seen.slice(0, -1).every((p) => p < 100)).toBe(true);
  });

  it('uploads an empty file with one empty chunk', async () => {
    const server = new FakeServer();
    const task = new UploadTask(bytes(0), 'empty.txt', server, { chunkSize: 10 });
    await task.run();
    expect(task.status).toBe('done');
    expect(server.files.get('empty.txt')).toEqual([]);
  });

  it('retries a chunk after a network failure from the offset the server holds', async () => {
    const server = new FakeServer();
    // The second chunk breaks after 4 of its bytes arrived.
    server.chunkFailures = [];
    const task = new UploadTask(bytes(25), 'a.bin', server, { chunkSize: 10, sleep: noSleep });
    const origChunk = server.chunk.bind(server);
    let n = 0;
    server.chunk = (...args) => {
      if (++n === 2) server.chunkFailures.push({ status: 0, after: 4 });
      return origChunk(...args);
    };
    await task.run();
    expect(task.status).toBe('done');
    expect(task.resumes).toBe(1);
    expect(server.files.get('a.bin')).toEqual(expected(25));
    // Resumed at 14 (what the server had), not 10 again.
    expect(server.calls).toEqual(['begin a.bin 25 false', 'chunk u1 0 10', 'chunk u1 10 10', 'state u1', 'chunk u1 14 10', 'chunk u1 24 1']);
  });

  it('gives up after the retries and resumes when the user says Retry', async () => {
    const server = new FakeServer();
    const task = new UploadTask(bytes(25), 'a.bin', server, { chunkSize: 10, maxRetries: 2, sleep: noSleep });
    server.chunkFailures = [{ status: 503 }, { status: 503 }, { status: 503 }];
    await task.run();
    expect(task.status).toBe('failed');
    expect(task.error).toBe('failed with 503');
    expect(task.id).toBe('u1');
    server.calls = [];
    await task.run();
    expect(task.status).toBe('done');
    expect(task.error).toBeNull();
    expect(server.calls[0]).toBe('state u1');
    expect(server.calls).not.toContain('begin a.bin 25 false');
    expect(server.files.get('a.bin')).toEqual(expected(25));
  });

  it('asks the server where it is after a 409 and goes on from there', async () => {
    const server = new FakeServer();
    const task = new UploadTask(bytes(25), 'a.bin', server, { chunkSize: 10 });
    // Another tab (or a lost answer) already delivered the first chunk.
    const origBegin = server.begin.bind(server);
    server.begin = async (...args) => {
      const s = await origBegin(...args);
      server.uploads.get(s.id)!.bytes.push(...expected(10));
      return { ...s, offset: 0 };
    };
    await task.run();
    expect(task.status).toBe('done');
    expect(server.files.get('a.bin')).toEqual(expected(25));
    expect(server.calls.slice(1, 4)).toEqual(['chunk u1 0 10', 'state u1', 'chunk u1 10 10']);
  });

  it('does not retry refusals: quota and conflicts are the user’s to decide', async () => {
    const server = new FakeServer();
    server.quota = 10;
    const big = new UploadTask(bytes(25), 'big.bin', server, { chunkSize: 10, sleep: noSleep });
    await big.run();
    expect(big.status).toBe('failed');
    expect(big.code).toBe('quota_exceeded');
    expect(big.error).toMatch(/disk limit/);

    server.quota = Infinity;
    server.existing.add('a.txt');
    const task = new UploadTask(bytes(3), 'a.txt', server, { chunkSize: 10 });
    await task.run();
    expect(task.status).toBe('conflict');
    expect(task.code).toBe('file_exists');
    await task.replace();
    expect(task.status).toBe('done');
    expect(server.calls.at(-2)).toBe('begin a.txt 3 true');
  });

  it('starts over when the server forgot the upload', async () => {
    const server = new FakeServer();
    const task = new UploadTask(bytes(25), 'a.bin', server, { chunkSize: 10, maxRetries: 0 });
    server.chunkFailures = [{ status: 0, after: 0 }];
    await task.run();
    expect(task.status).toBe('failed');
    server.uploads.clear(); // expired
    await task.run();
    expect(task.status).toBe('done');
    expect(server.calls.filter((c) => c.startsWith('begin'))).toHaveLength(2);
    expect(server.files.get('a.bin')).toEqual(expected(25));
  });

  it('cancel stops sending and drops the upload on the server', async () => {
    const server = new FakeServer();
    let task!: UploadTask;
    task = new UploadTask(bytes(25), 'a.bin', server, {
      chunkSize: 10,
      onchange: (t) => {
        if (t.sent >= 10 && t.status === 'uploading') void task.cancel();
      },
    });
    await task.run();
    expect(task.status).toBe('cancelled');
    expect(server.aborted).toEqual(['u1']);
    expect(server.files.has('a.bin')).toBe(false);
    expect(server.calls.filter((c) => c.startsWith('chunk')).length).toBeLessThan(3);
    // A cancelled task does not run again.
    await task.run();
    expect(task.status).toBe('cancelled');
  });
});

describe('UploadQueue', () => {
  it('runs two at a time and all of them to the end', async () => {
    const server = new FakeServer();
    let active = 0;
    let most = 0;
    const orig = server.chunk.bind(server);
    server.chunk = async (...args) => {
      active++;
      most = Math.max(most, active);
      await new Promise((r) => setTimeout(r, 5));
      try {
        return await orig(...args);
      } finally {
        active--;
      }
    };
    const q = new UploadQueue(2);
    const tasks = [1, 2, 3, 4].map((i) => new UploadTask(bytes(12), `f${i}`, server, { chunkSize: 10 }));
    tasks.forEach((t) => q.add(t));
    await new Promise<void>((resolve) => {
      const check = () => (tasks.every((t) => t.status === 'done') ? resolve() : setTimeout(check, 5));
      check();
    });
    expect(most).toBe(2);
    expect([...server.files.keys()].sort()).toEqual(['f1', 'f2', 'f3', 'f4']);
    q.clearFinished();
    expect(q.tasks).toHaveLength(0);
  });
});
