/**
 * Heap figures from a process started with `deno run --inspect=127.0.0.1:PORT`, through the
 * V8 inspector protocol (Runtime.getHeapUsage, HeapProfiler.collectGarbage): tells a JS leak
 * (heap used after a full GC keeps growing) from memory the runtime keeps (RSS grows, the
 * heap does not).
 */
export class Inspector {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, (r: unknown) => void>();
  #onEvent: (msg: { method: string; params: unknown }) => void = () => {};

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.id === undefined) return this.#onEvent(msg);
      this.#pending.get(msg.id)?.(msg.result ?? msg.error);
      this.#pending.delete(msg.id);
    };
  }

  static async connect(port: number): Promise<Inspector> {
    const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    const ws = new WebSocket(list[0].webSocketDebuggerUrl);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    return new Inspector(ws);
  }

  call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve as (r: unknown) => void);
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** V8 heap used / total in MB (10^6 bytes), optionally after a full GC. */
  async heap({ gc = false } = {}): Promise<{ usedMB: number; totalMB: number }> {
    if (gc) await this.call("HeapProfiler.collectGarbage");
    const r = await this.call<{ usedSize: number; totalSize: number }>("Runtime.getHeapUsage");
    return { usedMB: r.usedSize / 1e6, totalMB: r.totalSize / 1e6 };
  }

  /** Evaluates an expression in the process (e.g. `JSON.stringify(Deno.memoryUsage())`). */
  async evaluate(expression: string): Promise<unknown> {
    const r = await this.call<{ result: { value: unknown } }>("Runtime.evaluate", {
      expression,
      returnByValue: true,
    });
    return r.result?.value;
  }

  /**
   * Allocation sampling (HeapProfiler.startSampling), counting objects that were already
   * collected too: what allocates, not what stays alive.
   */
  async startAllocationSampling(intervalBytes = 8192): Promise<void> {
    await this.call("HeapProfiler.startSampling", {
      samplingInterval: intervalBytes,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  }

  /** Stops sampling; bytes allocated per function ("name file:line"), largest first. */
  async stopAllocationSampling(): Promise<{ name: string; bytes: number }[]> {
    const r = await this.call<{ profile: { head: SamplingNode } }>("HeapProfiler.stopSampling");
    const totals = new Map<string, number>();
    const walk = (n: SamplingNode) => {
      const f = n.callFrame;
      const url = f.url.replace(/^.*node_modules\/(\.deno\/)?/, "").replace(
        /^file:\/\/.*?\/(src|bench|tests)\//,
        "$1/",
      );
      const name = `${f.functionName || "(anonymous)"} ${url || "(native)"}:${f.lineNumber + 1}`;
      totals.set(name, (totals.get(name) ?? 0) + n.selfSize);
      for (const c of n.children) walk(c);
    };
    walk(r.profile.head);
    return [...totals].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes);
  }

  /** A heap snapshot (HeapProfiler.takeHeapSnapshot; full GC first), as its JSON text. */
  async heapSnapshot(): Promise<string> {
    const chunks: string[] = [];
    this.#onEvent = (msg) => {
      if (msg.method === "HeapProfiler.addHeapSnapshotChunk") {
        chunks.push((msg.params as { chunk: string }).chunk);
      }
    };
    try {
      await this.call("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
    } finally {
      this.#onEvent = () => {};
    }
    return chunks.join("");
  }

  close(): void {
    this.#ws.close();
  }
}

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}
