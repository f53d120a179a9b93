// An inline SVG bar chart of delivered and failed deliveries per hour, drawn with
// DOM calls (no markup strings, nothing inline the Content-Security-Policy forbids).

const NS = 'http://www.w3.org/2000/svg';

function el(name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// hourly buckets deliveries (delivered and failed) into the 24 hours ending at now,
// by the time each delivery was created.
export function hourly(deliveries, now = new Date()) {
  const end = Math.floor(now.getTime() / 3600e3) * 3600e3 + 3600e3;
  const buckets = Array.from({ length: 24 }, (_, i) => ({ start: new Date(end - (24 - i) * 3600e3), delivered: 0, failed: 0 }));
  for (const d of deliveries) {
    if (d.status !== 'delivered' && d.status !== 'failed') continue;
    const i = 23 - Math.floor((end - 1 - new Date(d.createdAt).getTime()) / 3600e3);
    if (i >= 0 && i < 24) buckets[i][d.status]++;
  }
  return buckets;
}

export function chart(buckets) {
  const W = 720, H = 180, left = 30, bottom = 22, top = 8;
  const max = Math.max(1, ...buckets.map((b) => Math.max(b.delivered, b.failed)));
  const delivered = buckets.reduce((n, b) => n + b.delivered, 0);
  const failed = buckets.reduce((n, b) => n + b.failed, 0);
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img',
    'aria-label': `Last 24 hours: ${delivered} delivered, ${failed} failed` });
  svg.append(el('title', {}, `Delivered and failed per hour, last 24 hours: ${delivered} delivered, ${failed} failed`));
  const plotH = H - bottom - top;
  const slot = (W - left) / buckets.length;
  const bar = Math.max(2, (slot - 4) / 2);
  svg.append(el('line', { x1: left, y1: H - bottom, x2: W, y2: H - bottom, class: 'axis' }));
  svg.append(el('text', { x: left - 4, y: top + 8, 'text-anchor': 'end' }, String(max)));
  svg.append(el('text', { x: left - 4, y: H - bottom, 'text-anchor': 'end' }, '0'));
  buckets.forEach((b, i) => {
    const x = left + i * slot + 2;
    const hour = b.start.getHours().toString().padStart(2, '0') + ':00';
    for (const [j, kind] of [[0, 'delivered'], [1, 'failed']]) {
      const h = (b[kind] / max) * plotH;
      const r = el('rect', { x: x + j * bar, y: H - bottom - h, width: bar, height: h, class: kind });
      r.append(el('title', {}, `${hour}: ${b[kind]} ${kind}`));
      svg.append(r);
    }
    if (i % 3 === 0) svg.append(el('text', { x: x + bar, y: H - 6, 'text-anchor': 'middle' }, hour));
  });
  return svg;
}
