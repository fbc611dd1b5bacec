import { pino, type DestinationStream, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

/**
 * Secrets never reach a log line: redaction is a second line of defence, the first is that
 * no code logs headers, tokens or webhook secrets at all.
 */
const REDACTED_PATHS = [
  "authorization",
  "token",
  "secret",
  "*.authorization",
  "*.token",
  "*.secret",
  "headers.authorization",
  "req.headers.authorization",
];

export function createLogger(level: LevelWithSilent, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: "certflow" },
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
