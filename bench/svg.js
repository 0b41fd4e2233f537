// A tiny dependency-free SVG line-chart writer for the benchmark reports.
//
//   import { lineChart, svgDocument } from './svg.js';
//   const chart = lineChart({
//     title: '4096x4096', xLabel: 'sparsity', yLabel: 'speedup', yLog: true,
//     series: [{ label: 'N=1', color: '#1f77b4', points: [{ x: 0.5, y: 1.8 }, { x: 0.9, y: 6.1 }] }],
//     hLines: [{ y: 1, label: '1x' }],
//   });
//   writeFileSync('chart.svg', svgDocument([chart], { title: 'Speedup' }));
//
// lineChart returns { width, height, svg }: an SVG fragment drawn in a box
// [0, width] x [0, height]; svgDocument lays one or more of them out in a grid
// and wraps them in a complete <svg> document. Points whose y is not a finite
// number (or not > 0 on a log axis) break the line.

// A white outline under text drawn over lines (paint-order: stroke first).
const HALO = 'stroke="white" stroke-width="3" stroke-linejoin="round" paint-order="stroke"';
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

/** Escapes text for SVG character data and attribute values. */
export function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

let clipIds = 0;
const num = (v) => (Math.round(v * 100) / 100).toString();

/** Trims trailing zeros: 0.50 → 0.5, 2.00 → 2. */
function shortNumber(v) {
  if (v === 0) return '0';
  const a = Math.abs(v);
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
  return String(Number(v.toFixed(digits)));
}

/** About `count` round tick values covering [lo, hi] (1, 2, 2.5 or 5 times a power of ten apart). */
export function niceTicks(lo, hi, count = 6) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count - 1);
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const ticks = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** Powers of two within [lo, hi] (lo > 0), e.g. 0.25, 0.5, 1, 2, 4. */
export function log2Ticks(lo, hi) {
  const ticks = [];
  for (let e = Math.floor(Math.log2(lo)); 2 ** e <= hi * (1 + 1e-9); e++) if (2 ** e >= lo * (1 - 1e-9)) ticks.push(2 ** e);
  return ticks;
}

/** A marker shape centred on (x, y). */
function marker(kind, x, y, color, size = 3.5) {
  const s = size;
  switch (kind) {
    case 'none':
      return '';
    case 'square':
      return `<rect x="${num(x - s)}" y="${num(y - s)}" width="${num(2 * s)}" height="${num(2 * s)}" fill="${color}"/>`;
    case 'diamond': {
      const d = s * 1.35;
      return `<path d="M${num(x)} ${num(y - d)}L${num(x + d)} ${num(y)}L${num(x)} ${num(y + d)}L${num(x - d)} ${num(y)}Z" fill="${color}"/>`;
    }
    case 'triangle':
      return `<path d="M${num(x)} ${num(y - s * 1.3)}L${num(x + s * 1.2)} ${num(y + s)}L${num(x - s * 1.2)} ${num(y + s)}Z" fill="${color}"/>`;
    case 'open':
      return `<circle cx="${num(x)}" cy="${num(y)}" r="${num(s)}" fill="white" stroke="${color}" stroke-width="1.5"/>`;
    default:
      return `<circle cx="${num(x)}" cy="${num(y)}" r="${num(s)}" fill="${color}"/>`;
  }
}

/**
 * A line chart.
 * - series: [{ label, color, dash (SVG stroke-dasharray, e.g. '6 4'; none
 *   for solid), width (stroke width, default 2), marker ('circle' (default),
 *   'square', 'diamond', 'triangle', 'open', 'none'), line (false: markers
 *   only), legend (false: not in the legend), points: [{ x, y, label? }] }].
 *   A point's `label` is written next to it.
 * - xDomain / yDomain: [lo, hi] (default: the data's range, padded; a log
 *   axis always includes the hLines); yLog: a base-2 logarithmic y axis.
 * - xTicks / yTicks: tick values (default: niceTicks / log2Ticks);
 *   xTickFormat / yTickFormat: value → text.
 * - hLines: [{ y, label, color, dash }] horizontal reference lines.
 * - legendEntries: extra legend rows [{ label, color, dash, marker, line }]
 *   (e.g. to explain line styles), listed after the series.
 */
export function lineChart({
  width = 560, height = 400, title = '', xLabel = '', yLabel = '',
  series = [], hLines = [], legendEntries = [],
  xDomain, yDomain, yLog = false, xTicks, yTicks,
  xTickFormat = shortNumber, yTickFormat = shortNumber,
  legendWidth = 150,
} = {}) {
  const ok = (p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!yLog || p.y > 0);
  const pts = series.flatMap((s) => s.points.filter(ok));
  const xs = pts.map((p) => p.x);
  const ys = [...pts.map((p) => p.y), ...hLines.map((h) => h.y)].filter((y) => Number.isFinite(y) && (!yLog || y > 0));
  let [x0, x1] = xDomain ?? (xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1]);
  if (!(x1 > x0)) [x0, x1] = [x0 - 0.5, x0 + 0.5];
  let [y0, y1] = yDomain ?? (ys.length ? [Math.min(...ys), Math.max(...ys)] : [yLog ? 0.5 : 0, yLog ? 2 : 1]);
  if (!yDomain) {
    if (yLog) {
      y0 = 2 ** Math.floor(Math.log2(y0) + 1e-9);
      y1 = 2 ** Math.ceil(Math.log2(y1) - 1e-9);
      if (!(y1 > y0)) y1 = y0 * 2;
    } else {
      const t = niceTicks(Math.min(0, y0), y1);
      y0 = t[0];
      y1 = t[t.length - 1] < y1 ? y1 : t[t.length - 1];
      if (!(y1 > y0)) y1 = y0 + 1;
    }
  }
  const xt = xTicks ?? niceTicks(x0, x1);
  const yt = yTicks ?? (yLog ? log2Ticks(y0, y1) : niceTicks(y0, y1));

  const hasLegend = series.some((s) => s.legend !== false && s.label) || legendEntries.length > 0;
  const m = { left: 58, right: hasLegend ? legendWidth + 16 : 16, top: title ? 34 : 14, bottom: 48 };
  const pw = width - m.left - m.right, ph = height - m.top - m.bottom;
  const sx = (x) => m.left + ((x - x0) / (x1 - x0)) * pw;
  const fy = yLog ? Math.log2 : (v) => v;
  const sy = (y) => m.top + ph - ((fy(y) - fy(y0)) / (fy(y1) - fy(y0))) * ph;

  const out = [];
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="white"/>`);
  if (title) out.push(`<text x="${num(m.left + pw / 2)}" y="20" text-anchor="middle" font-size="15" font-weight="600" ${FONT}>${esc(title)}</text>`);
  // grid and ticks
  for (const v of yt) {
    if (v < y0 - 1e-12 || v > y1 + 1e-12) continue;
    const y = sy(v);
    out.push(`<line x1="${m.left}" y1="${num(y)}" x2="${m.left + pw}" y2="${num(y)}" stroke="#e3e3e3" stroke-width="1"/>`);
    out.push(`<text x="${m.left - 6}" y="${num(y + 4)}" text-anchor="end" font-size="11" fill="#444" ${FONT}>${esc(yTickFormat(v))}</text>`);
  }
  for (const v of xt) {
    if (v < x0 - 1e-12 || v > x1 + 1e-12) continue;
    const x = sx(v);
    out.push(`<line x1="${num(x)}" y1="${m.top}" x2="${num(x)}" y2="${m.top + ph}" stroke="#efefef" stroke-width="1"/>`);
    out.push(`<text x="${num(x)}" y="${m.top + ph + 16}" text-anchor="middle" font-size="11" fill="#444" ${FONT}>${esc(xTickFormat(v))}</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#888" stroke-width="1"/>`);
  // axis labels
  if (xLabel) out.push(`<text x="${num(m.left + pw / 2)}" y="${height - 10}" text-anchor="middle" font-size="12" ${FONT}>${esc(xLabel)}</text>`);
  if (yLabel) out.push(`<text transform="translate(15 ${num(m.top + ph / 2)}) rotate(-90)" text-anchor="middle" font-size="12" ${FONT}>${esc(yLabel)}</text>`);
  // reference lines (their labels are drawn over the series)
  const labels = [];
  for (const h of hLines) {
    if (!(h.y >= y0 && h.y <= y1)) continue;
    const y = sy(h.y), color = h.color ?? '#333';
    out.push(`<line x1="${m.left}" y1="${num(y)}" x2="${m.left + pw}" y2="${num(y)}" stroke="${color}" stroke-width="1.2"${h.dash ? ` stroke-dasharray="${h.dash}"` : ''}/>`);
    if (h.label) labels.push(`<text x="${m.left + pw - 4}" y="${num(y - 4)}" text-anchor="end" font-size="11" fill="${color}" ${HALO} ${FONT}>${esc(h.label)}</text>`);
  }
  // series: lines (broken at missing points), then markers and point labels
  const clip = `plot-clip-${++clipIds}`;
  out.push(`<clipPath id="${clip}"><rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}"/></clipPath>`);
  out.push(`<g clip-path="url(#${clip})">`);
  for (const s of series) {
    if (s.line === false) continue;
    let d = '', pen = false;
    for (const p of s.points) {
      if (!ok(p)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${num(sx(p.x))} ${num(sy(p.y))}`;
      pen = true;
    }
    if (d) out.push(`<path d="${d}" fill="none" stroke="${s.color ?? '#000'}" stroke-width="${s.width ?? 2}" stroke-linejoin="round"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}${s.opacity ? ` stroke-opacity="${s.opacity}"` : ''}/>`);
  }
  for (const s of series) {
    for (const p of s.points) {
      if (!ok(p)) continue;
      out.push(marker(s.marker ?? 'circle', sx(p.x), sy(p.y), s.color ?? '#000', s.markerSize ?? 3.5));
    }
  }
  out.push('</g>');
  out.push(...labels);
  for (const s of series) {
    for (const p of s.points) {
      if (!ok(p) || p.label === undefined) continue;
      out.push(`<text x="${num(sx(p.x) + 6)}" y="${num(sy(p.y) - 6)}" font-size="10" fill="${s.color ?? '#000'}" ${HALO} ${FONT}>${esc(p.label)}</text>`);
    }
  }
  // legend
  if (hasLegend) {
    const entries = [...series.filter((s) => s.legend !== false && s.label), ...legendEntries];
    const lx = m.left + pw + 14;
    let ly = m.top + 6;
    for (const e of entries) {
      const color = e.color ?? '#000';
      if (e.line !== false) out.push(`<line x1="${lx}" y1="${ly + 5}" x2="${lx + 26}" y2="${ly + 5}" stroke="${color}" stroke-width="${e.width ?? 2}"${e.dash ? ` stroke-dasharray="${e.dash}"` : ''}/>`);
      out.push(marker(e.marker ?? 'circle', lx + 13, ly + 5, color, 3.5));
      out.push(`<text x="${lx + 32}" y="${ly + 9}" font-size="11" ${FONT}>${esc(e.label)}</text>`);
      ly += 17;
    }
  }
  return { width, height, svg: out.join('\n') };
}

/** Splits `text` at spaces into lines of at most `max` characters (longer words stay whole). */
export function wrapText(text, max) {
  const lines = [];
  let line = '';
  for (const word of String(text).split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > max) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/**
 * A complete SVG document: `charts` (from lineChart) in a grid of `cols`
 * columns, an optional title above and notes (lines of small text) below.
 */
export function svgDocument(charts, { cols = charts.length, title = '', notes = [], gap = 12 } = {}) {
  const rows = Math.ceil(charts.length / Math.max(1, cols));
  const cw = Math.max(...charts.map((c) => c.width)), ch = Math.max(...charts.map((c) => c.height));
  const width = cols * cw + (cols - 1) * gap;
  const titleLines = title ? wrapText(title, Math.floor((width - 20) / 9.8)) : [];
  const top = titleLines.length ? 12 + 22 * titleLines.length : 0;
  notes = notes.flatMap((n) => wrapText(n, Math.floor((width - 20) / 6.3)));
  const height = top + rows * ch + (rows - 1) * gap + (notes.length ? 10 + notes.length * 15 : 0);
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="white"/>`);
  titleLines.forEach((t, i) => {
    out.push(`<text x="${width / 2}" y="${22 + 22 * i}" text-anchor="middle" font-size="17" font-weight="600" ${FONT}>${esc(t)}</text>`);
  });
  charts.forEach((c, i) => {
    const x = (i % cols) * (cw + gap), y = top + Math.floor(i / cols) * (ch + gap);
    out.push(`<g transform="translate(${x} ${y})">`, c.svg, '</g>');
  });
  notes.forEach((n, i) => {
    out.push(`<text x="10" y="${top + rows * ch + (rows - 1) * gap + 18 + i * 15}" font-size="11" fill="#444" ${FONT}>${esc(n)}</text>`);
  });
  out.push('</svg>', '');
  return out.join('\n');
}
