// What the benchmarks measure and report with alike: percentiles, markdown tables, the header of a results file, the
// wall time of the local host's function invocations, and CPU time from Linux /proc. How each benchmark groups and
// labels the CPU stays its own.
import { readdirSync, readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import type { FunctionHost } from "../local/lambda/host";

/** The options of a load benchmark, whose defaults are its own: --quick, --levels 1,4,16 (clients), --seconds. */
export const loadOptions = {
  quick: { type: "boolean", default: false },
  levels: { type: "string" },
  seconds: { type: "string" },
} as const;

/** Where and when the run happened: the first fields of every results file. */
export const runInfo = () => ({
  machine: `${process.platform} ${process.arch}`,
  node: process.version,
  date: new Date().toISOString(),
});

/** The element at rank ⌊p/100 × n⌋ of ascending `sorted` (the last for p = 100); NaN when it is empty. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** A markdown table as report lines: the header, its rule, then a line a row. */
export function markdownTable(columns: readonly string[], rows: readonly (readonly (string | number)[])[]): string[] {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(columns), `|${columns.map(() => "---").join("|")}|`, ...rows.map(line)];
}

// ---------------------------------------------------------------- function invocations

export interface InvocationTimes {
  /** Wall ms of every invocation that ended since the last reset, by logical id. */
  readonly byFunction: ReadonlyMap<string, readonly number[]>;
  reset(): void;
}

/** Wraps `host.invoke` to time every invocation: waiting for a container, the round trip to it, the handler. */
export function timeInvocations(host: FunctionHost): InvocationTimes {
  let byFunction = new Map<string, number[]>();
  const invoke = host.invoke.bind(host);
  host.invoke = async (id, event) => {
    const t0 = performance.now();
    try {
      return await invoke(id, event);
    } finally {
      const name = host.find(id)?.logicalId ?? id;
      const list = byFunction.get(name) ?? [];
      list.push(performance.now() - t0);
      byFunction.set(name, list);
    }
  };
  return {
    get byFunction() {
      return byFunction;
    },
    reset: () => {
      byFunction = new Map();
    },
  };
}

// ---------------------------------------------------------------- CPU time (Linux /proc)

const CLOCK_TICKS = 100; // USER_HZ: /proc reports CPU times in 1/100 s on Linux

/**
 * A /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat line: the CPU ms so far (utime + stime), the parent's pid and the
 * command name; undefined once the process or thread has gone.
 */
export function procStat(path: string): { cpuMs: number; ppid: number; comm: string } | undefined {
  try {
    const text = readFileSync(path, "utf8");
    const close = text.lastIndexOf(")");
    const fields = text.slice(close + 2).split(" ");
    return {
      cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS,
      ppid: Number(fields[1]),
      comm: text.slice(text.indexOf("(") + 1, close),
    };
  } catch {
    return undefined;
  }
}

/** The CPU ms so far of each of this process's threads, by thread id; a thread that ends meanwhile is left out. */
export function threadCpuMs(): Map<string, number> {
  const byThread = new Map<string, number>();
  for (const tid of readdirSync("/proc/self/task")) {
    const cpuMs = procStat(`/proc/self/task/${tid}/stat`)?.cpuMs;
    if (cpuMs !== undefined) byThread.set(tid, cpuMs);
  }
  return byThread;
}

/** Busy CPU ms of the whole machine (every process, ours and others'), from /proc/stat; NaN without it. */
export function machineBusyMs(): number {
  try {
    const [, ...fields] = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/);
    const ticks = fields.slice(0, 8).map(Number);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    return ((ticks.reduce((s, x) => s + x, 0) - idle) * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}
