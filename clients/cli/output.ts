/** A plain text table: columns padded to their widest cell. */
export function table(headers: string[], rows: string[][]): string {
  if (rows.length === 0) return "(none)";
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

/**
 * Progress on stderr, so stdout stays the result: a redrawn bar on a terminal, a line per update
 * (at most every 10%) otherwise; silent with --json.
 */
export function progressBar(label: string, total: number, quiet: boolean) {
  const tty = process.stderr.isTTY;
  let lastTenth = -1;
  return {
    update(done: number, note = "") {
      if (quiet) return;
      const fraction = total === 0 ? 1 : Math.min(1, done / total);
      const text = `${label} ${"█".repeat(Math.round(fraction * 30)).padEnd(30, "░")} ${Math.round(fraction * 100)}% ${done}/${total} ${note}`;
      if (tty) process.stderr.write(`\r${text}`);
      else if (Math.floor(fraction * 10) > lastTenth) {
        lastTenth = Math.floor(fraction * 10);
        process.stderr.write(`${text.trimEnd()}\n`);
      }
    },
    done() {
      if (!quiet && tty) process.stderr.write("\n");
    },
  };
}
