import type { DestinationStream } from 'pino';

/** Where a CLI run reads its environment and writes its output; tests pass their own. */
export interface CliIo {
  /** Human-facing command output (plain text). */
  stdout: (s: string) => void;
  /** Messages for the operator and JSON log lines. */
  stderr: (s: string) => void;
  env: NodeJS.ProcessEnv;
  /** Stops long-running commands (serve); when absent, SIGINT/SIGTERM do. */
  signal?: AbortSignal;
}

export function processIo(): CliIo {
  return {
    stdout: (s) => void process.stdout.write(s),
    stderr: (s) => void process.stderr.write(s),
    env: process.env,
  };
}

/**
 * What stops a long-running command: the io's own signal (tests), or else SIGINT/SIGTERM, reported
 * to `onSignal`. `dispose` removes the process listeners.
 */
export function stopSignal(io: CliIo, onSignal?: (sig: NodeJS.Signals) => void): { signal: AbortSignal; dispose(): void } {
  if (io.signal) return { signal: io.signal, dispose: () => undefined };
  const stop = new AbortController();
  const handler = (sig: NodeJS.Signals): void => {
    onSignal?.(sig);
    stop.abort();
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return {
    signal: stop.signal,
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/** A pino destination that writes log lines to the run's stderr. */
export function logDestination(io: CliIo): DestinationStream {
  return { write: (line: string) => io.stderr(line) };
}

/** Wrong arguments: the CLI prints the message and the command's usage, and exits 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}
