import { config as loadDotenv } from 'dotenv';
import { type Config, ConfigError, loadConfig } from '../config/load.js';

/** Reads `.env` when present, then the validated config; a bad value ends the process with one line. */
export function configFromEnvironment(): Config {
  loadDotenv({ quiet: true });
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`Configuration error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

/** Awaits a start-up step; a ConfigError (a bad REMOVE_BG_MODEL found when loading it) ends the process with one line. */
export async function orExitOnConfigError<T>(step: Promise<T>): Promise<T> {
  try {
    return await step;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`Configuration error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

/** Runs `stop` once on SIGTERM/SIGINT; a second signal exits at once. */
export function onShutdownSignal(stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) process.exit(1);
      stopping = true;
      stop(signal).then(
        () => process.exit(0),
        (err: unknown) => {
          process.stderr.write(`Shutdown failed: ${String(err)}\n`);
          process.exit(1);
        },
      );
    });
  }
}
