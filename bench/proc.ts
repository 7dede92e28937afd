/** Memory and CPU of a process, from /proc (Linux). */

/** VmRSS / VmHWM (peak RSS) in MB (10^6 bytes, as the targets say); NaN when the process is gone. */
export async function memoryMB(pid: number): Promise<{ rss: number; peak: number }> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const kb = (name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
    return { rss: (kb("VmRSS") * 1024) / 1e6, peak: (kb("VmHWM") * 1024) / 1e6 };
  } catch {
    return { rss: NaN, peak: NaN };
  }
}

/**
 * Resets the process's VmHWM to its current RSS (`/proc/PID/clear_refs` 5, Linux 4.0+), so the
 * next reading is the peak since now. False where that is not allowed.
 */
export async function resetPeakRss(pid: number): Promise<boolean> {
  try {
    await Deno.writeTextFile(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** User + system CPU seconds the process has used so far; NaN when it is gone. */
export async function cpuSeconds(pid: number): Promise<number> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // Fields after the command name (which may contain spaces) start at the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime, stime
  } catch {
    return NaN;
  }
}

/** RSS by kind of mapping (MB): the executable, shared libraries, brk heap, anonymous. */
export async function rssByMapping(pid: number): Promise<Record<string, number>> {
  const smaps = await Deno.readTextFile(`/proc/${pid}/smaps`);
  const out: Record<string, number> = {};
  let kind = "anonymous";
  for (const line of smaps.split("\n")) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      const name = header[1];
      kind = !name
        ? "anonymous"
        : name === "[heap]"
        ? "[heap] (malloc main arena)"
        : name.startsWith("[")
        ? name
        : /\/deno$/.test(name)
        ? "deno executable"
        : /\.so(\.|$)/.test(name) || /\.node$/.test(name)
        ? "shared libraries"
        : "other files";
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) out[kind] = (out[kind] ?? 0) + (Number(rss[1]) * 1024) / 1e6;
  }
  return out;
}

export function cpuCount(): number {
  return navigator.hardwareConcurrency;
}
