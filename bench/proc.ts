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

export function cpuCount(): number {
  return navigator.hardwareConcurrency;
}
