// Resumable chunked uploads: begin, send the chunks the server is missing, resume from
// where the server says it is after a failure. The transport is injected, so the steps
// are tested without a browser; `xhrTransport` is the real one (XMLHttpRequest, for
// upload progress).

import { ApiError, csrfHeaders, del, get, noticeSessionLost, post, toApiError } from './api';
import { CHUNK_SIZE, filesApi, nextChunk, retryable, uploadPercent, type UploadState } from './files';

export interface UploadTransport {
  begin(path: string, size: number, overwrite: boolean): Promise<UploadState>;
  /** Sends `body` at `offset`; `progress` gets the bytes of this chunk sent so far. */
  chunk(id: string, offset: number, body: Blob, progress: (loaded: number) => void, signal: AbortSignal): Promise<UploadState>;
  state(id: string): Promise<UploadState>;
  abort(id: string): Promise<void>;
}

export type UploadStatus = 'queued' | 'uploading' | 'retrying' | 'failed' | 'conflict' | 'done' | 'cancelled';

export interface UploadOptions {
  chunkSize?: number;
  /** Automatic tries of one chunk after network trouble, before the user is asked. */
  maxRetries?: number;
  retryDelayMs?: (attempt: number) => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  overwrite?: boolean;
  onchange?: (task: UploadTask) => void;
}

const defaultSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

let nextKey = 1;

/** One file's upload. `run()` starts or resumes it; it never throws. */
export class UploadTask {
  readonly key = nextKey++;
  status: UploadStatus = 'queued';
  /** Bytes the server has (plus the part of the chunk in flight). */
  sent = 0;
  error: string | null = null;
  /** The error's code (`quota_exceeded`, `file_exists`, …). */
  code: string | null = null;
  /** How many chunks were sent again after a failure (shown as "resumed"). */
  resumes = 0;
  overwrite: boolean;
  private upload: UploadState | null = null;
  private controller = new AbortController();
  private running: Promise<void> | null = null;
  private readonly o: Required<Omit<UploadOptions, 'overwrite' | 'onchange'>> & { onchange?: (t: UploadTask) => void };

  constructor(
    readonly file: Blob,
    /** Where the file lands, relative to the server root. */
    readonly path: string,
    private readonly transport: UploadTransport,
    opts: UploadOptions = {},
  ) {
    this.overwrite = opts.overwrite ?? false;
    this.o = {
      chunkSize: opts.chunkSize ?? CHUNK_SIZE,
      maxRetries: opts.maxRetries ?? 3,
      retryDelayMs: opts.retryDelayMs ?? ((n) => Math.min(8000, 500 * 2 ** (n - 1))),
      sleep: opts.sleep ?? defaultSleep,
      onchange: opts.onchange,
    };
  }

  get size(): number {
    return this.file.size;
  }

  get id(): string | null {
    return this.upload?.id ?? null;
  }

  get percent(): number {
    return uploadPercent(this.sent, this.size, this.status === 'done');
  }

  /** Finished one way or another, nothing in flight. */
  get settled(): boolean {
    return this.status === 'done' || this.status === 'cancelled' || this.status === 'failed' || this.status === 'conflict';
  }

  private changed() {
    this.o.onchange?.(this);
  }

  /** Start, or resume after a failure (from where the server says it is). */
  run(): Promise<void> {
    if (this.running) return this.running;
    if (this.status === 'done' || this.status === 'cancelled') return Promise.resolve();
    this.running = this.go().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Begin again replacing the existing file (after a `file_exists` conflict). */
  replace(): Promise<void> {
    this.overwrite = true;
    this.upload = null;
    return this.run();
  }

  private async go() {
    const t = this.transport;
    const signal = this.controller.signal;
    this.status = 'uploading';
    this.error = null;
    this.code = null;
    this.changed();
    try {
      if (this.upload) {
        // Resuming: the server knows how much it has.
        try {
          this.upload = await t.state(this.upload.id);
        } catch (e) {
          // The upload is gone (expired, or aborted elsewhere): start over.
          if (e instanceof ApiError && (e.status === 404 || e.code === 'upload_conflict')) this.upload = null;
          else throw e;
        }
      }
      if (!this.upload) this.upload = await t.begin(this.path, this.size, this.overwrite);
      this.sent = this.upload.offset;
      this.changed();
      let attempts = 0;
      let conflicts = 0;
      for (;;) {
        if (signal.aborted) return;
        const c = nextChunk(this.upload, this.o.chunkSize);
        if (!c) break;
        try {
          this.upload = await t.chunk(
            this.upload.id,
            c.start,
            this.file.slice(c.start, c.end),
            (loaded) => {
              this.sent = c.start + Math.min(loaded, c.end - c.start);
              this.changed();
            },
            signal,
          );
          this.sent = this.upload.offset;
          attempts = 0;
          conflicts = 0;
          this.status = 'uploading';
          this.changed();
        } catch (e) {
          if (signal.aborted) return;
          const err = e instanceof ApiError ? e : toApiError(0, null);
          if (err.code === 'upload_conflict' && conflicts < 2) {
            // The server holds a different number of bytes than we thought: ask it.
            conflicts++;
            this.upload = await t.state(this.upload.id);
            this.sent = this.upload.offset;
            this.resumes++;
            continue;
          }
          if (retryable(err.status) && attempts < this.o.maxRetries) {
            attempts++;
            this.status = 'retrying';
            this.error = err.message;
            this.changed();
            await this.o.sleep(this.o.retryDelayMs(attempts), signal);
            if (signal.aborted) return;
            try {
              this.upload = await t.state(this.upload.id);
            } catch (se) {
              const s = se instanceof ApiError ? se : toApiError(0, null);
              if (!retryable(s.status)) throw s;
              // Still unreachable: try the same chunk again (the server refuses a wrong offset).
            }
            this.sent = this.upload.offset;
            this.resumes++;
            continue;
          }
          throw err;
        }
      }
      this.status = 'done';
      this.sent = this.size;
      this.error = null;
      this.changed();
    } catch (e) {
      if (signal.aborted) return;
      const err = e instanceof ApiError ? e : toApiError(0, null);
      this.code = err.code;
      this.error = err.message;
      this.status = err.code === 'file_exists' ? 'conflict' : 'failed';
      this.changed();
    }
  }

  /** Stop, and tell the server to drop what it has. */
  async cancel() {
    if (this.settled && this.status !== 'failed' && this.status !== 'conflict') return;
    this.controller.abort();
    this.status = 'cancelled';
    this.changed();
    const id = this.upload?.id;
    if (id) {
      try {
        await this.transport.abort(id);
      } catch {
        /* it expires on the server anyway */
      }
    }
  }
}

/** Runs queued uploads, `parallel` at a time. */
export class UploadQueue {
  readonly tasks: UploadTask[] = [];
  private active = 0;

  constructor(private readonly parallel = 2) {}

  add(task: UploadTask) {
    this.tasks.push(task);
    this.pump();
  }

  /** Start a failed or conflicting task again (it resumes). */
  retry(task: UploadTask, replace = false) {
    this.active++;
    (replace ? task.replace() : task.run()).finally(() => {
      this.active--;
      this.pump();
    });
  }

  private pump() {
    while (this.active < this.parallel) {
      const next = this.tasks.find((t) => t.status === 'queued');
      if (!next) return;
      this.active++;
      next.run().finally(() => {
        this.active--;
        this.pump();
      });
    }
  }

  /** Forget finished tasks (done or cancelled). */
  clearFinished() {
    for (let i = this.tasks.length - 1; i >= 0; i--) {
      const s = this.tasks[i].status;
      if (s === 'done' || s === 'cancelled') this.tasks.splice(i, 1);
    }
  }
}

/** The uploads API of one server, chunks sent with XMLHttpRequest for their progress. */
export function xhrTransport(serverId: string): UploadTransport {
  const base = filesApi(serverId, '/uploads');
  return {
    begin: (path, size, overwrite) => post<UploadState>(base, { path, size, overwrite }),
    state: (id) => get<UploadState>(`${base}/${encodeURIComponent(id)}`),
    abort: async (id) => {
      await del(`${base}/${encodeURIComponent(id)}`);
    },
    chunk: (id, offset, body, progress, signal) =>
      new Promise<UploadState>((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open('PATCH', `/api${base}/${encodeURIComponent(id)}?offset=${offset}`);
        for (const [k, v] of Object.entries(csrfHeaders('PATCH'))) xhr.setRequestHeader(k, v);
        xhr.setRequestHeader('content-type', 'application/octet-stream');
        xhr.setRequestHeader('accept', 'application/json');
        xhr.upload.onprogress = (e) => progress(e.loaded);
        const onAbort = () => xhr.abort();
        signal.addEventListener('abort', onAbort);
        const done = () => signal.removeEventListener('abort', onAbort);
        xhr.onload = () => {
          done();
          let payload: unknown = null;
          try {
            payload = xhr.responseText ? JSON.parse(xhr.responseText) : null;
          } catch {
            payload = null;
          }
          if (xhr.status >= 200 && xhr.status < 300) resolve(payload as UploadState);
          else {
            const err = toApiError(xhr.status, payload);
            noticeSessionLost(err);
            reject(err);
          }
        };
        xhr.onerror = () => {
          done();
          reject(toApiError(0, null));
        };
        xhr.onabort = () => {
          done();
          reject(new ApiError(0, { code: 'aborted', message: 'Cancelled' }));
        };
        xhr.send(body);
      }),
  };
}
