/** A small line chart of the last values, drawn as SVG (no chart library needed for this). */
export function Sparkline({ values, label, unit = "" }: { values: number[]; label: string; unit?: string }) {
  const width = 120;
  const height = 28;
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map((value, index) => `${(index * step).toFixed(1)},${(height - (value / max) * (height - 2) - 1).toFixed(1)}`).join(" ");
  const last = values[values.length - 1] ?? 0;
  return (
    <span class="spark" title={`${label}: last ${values.length} samples, max ${max}${unit}`}>
      <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
        <polyline points={points} fill="none" stroke="currentColor" stroke-width="1.5" />
      </svg>
      <span class="spark-value">
        {Number.isInteger(last) ? last : last.toFixed(1)}
        {unit}
      </span>
    </span>
  );
}

export function Progress({ percent }: { percent: number }) {
  return (
    <span class="progress" role="progressbar" aria-valuenow={percent} aria-valuemin={0} aria-valuemax={100}>
      <span style={{ width: `${Math.max(0, Math.min(100, percent))}%` }} />
    </span>
  );
}
