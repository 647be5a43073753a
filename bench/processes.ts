/**
 * Chromium's processes as Linux sees them, for the benchmarks' memory figures: which are ours,
 * and their peak resident memory (VmHWM, reset through /proc/<pid>/clear_refs).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * Processes of one type ('renderer', 'gpu-process') of the Chromium this Node process started
 * (other browsers on the machine are not its descendants); none where there is no /proc.
 */
export function chromiumProcesses(type: 'renderer' | 'gpu-process'): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return []; // not Linux: no process figures
  }
  const parent = new Map<number, number>();
  for (const name of entries) {
    try {
      // Field 4 of /proc/<pid>/stat, after the parenthesised command (which may hold spaces).
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      continue; // the process ended while we looked
    }
  }
  const descends = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === process.pid) return true;
    return false;
  };
  return [...parent.keys()].filter((pid) => {
    try {
      return descends(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`--type=${type}`);
    } catch {
      return false; // ended meanwhile
    }
  });
}

/** Resets the process's peak resident memory to its current one (Linux ≥ 4.0); that one, in KiB. */
export function resetPeakRss(pid: number): number | undefined {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    return undefined; // not allowed here: no RSS figure rather than a wrong one
  }
  return statusKib(pid, 'VmRSS');
}

export function statusKib(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match === null ? undefined : Number(match[1]);
}
