// The results pages' one script (served as /pages/pages.js, a module; no build step). It reads everything through
// the /v1 API with the caller's API key, asked for in a small form only when the API answers 401 and kept in this
// tab's sessionStorage. It never writes job data as HTML: every text goes through textContent, every element and
// SVG node is built with createElement(NS) and setAttribute (the pages' CSP allows no inline script or style).

const SVG_NS = 'http://www.w3.org/2000/svg';
/** The API's id form (idParamsSchema): anything else in the path is refused before it is used. */
export const JOB_ID = /^[A-Za-z0-9_-]{1,128}$/;
const KEY_STORAGE = 'hessian.apiKey';
const POLL_MS = 1000;
const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

// ---------------------------------------------------------------------------------------------------------------
// DOM helpers: elements from tags, attributes and text only.

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'text') node.textContent = String(value);
    else if (name === 'class') node.className = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) if (child !== undefined && child !== null) node.append(child);
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (name === 'text') node.textContent = String(value);
    else node.setAttribute(name, String(value));
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

const byId = (id) => document.getElementById(id);

function show(node, visible = true) {
  node.hidden = !visible;
}

/** A number for people: up to 4 significant digits, exponent form when very large or small. */
export function fmt(x) {
  if (typeof x !== 'number') return String(x);
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(3);
  return String(Number(x.toPrecision(4)));
}

function pageError(message) {
  const p = byId('page-error');
  p.textContent = message;
  show(p);
}

// ---------------------------------------------------------------------------------------------------------------
// The API, with the key asked for on a 401.

let keyWait = null;

function storedKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

function updateForgetButton() {
  const button = byId('forget-key');
  if (button) show(button, Boolean(storedKey()));
}

/** Shows the key form and resolves once a key was entered (every request waiting on a 401 shares it). */
function askForKey(message) {
  if (keyWait) return keyWait;
  const form = byId('key-form');
  const input = byId('api-key');
  byId('key-message').textContent = message;
  show(form);
  input.value = '';
  input.focus();
  keyWait = new Promise((resolve) => {
    const onSubmit = (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      sessionStorage.setItem(KEY_STORAGE, key);
      form.removeEventListener('submit', onSubmit);
      show(form, false);
      keyWait = null;
      updateForgetButton();
      resolve();
    };
    form.addEventListener('submit', onSubmit);
  });
  return keyWait;
}

/** fetch() against /v1 with the stored key; on 401 asks for a key and retries. */
async function api(path, init = {}) {
  for (;;) {
    const key = storedKey();
    const headers = new Headers(init.headers || {});
    if (key) headers.set('authorization', `Bearer ${key}`);
    const response = await fetch(path, { ...init, headers });
    if (response.status !== 401) return response;
    await response.body?.cancel();
    await askForKey(key ? 'That API key was not accepted; enter another.' : 'This service needs an API key.');
  }
}

/** The JSON of a response, or a problem's detail as an Error. */
async function json(response) {
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.detail || `HTTP ${response.status}`);
    error.status = response.status;
    error.code = body.code;
    throw error;
  }
  return body;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------------------
// Server-sent events over fetch (EventSource cannot send the Authorization header).

/** An incremental text/event-stream parser: push() text as it arrives, get the complete events back. */
export class SseParser {
  constructor() {
    this.buffer = '';
    this.reset();
  }

  reset() {
    this.type = '';
    this.data = [];
    this.id = undefined;
  }

  push(text) {
    this.buffer += text;
    const events = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (match[0] === '\r' && match.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const event = this.line(line);
      if (event) events.push(event);
    }
    return events;
  }

  line(line) {
    if (line === '') {
      const event =
        this.data.length > 0 || this.type
          ? { type: this.type || 'message', data: this.data.join('\n'), id: this.id }
          : null;
      this.reset();
      return event;
    }
    if (line.startsWith(':')) return null; // a comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    return null;
  }
}

/**
 * Follows a job through GET /v1/jobs/{id}/events. Resolves 'done' after the final event, 'unsupported' when the
 * service has no such endpoint (then the caller polls), 'broken' after repeated failures, 'missing' for an unknown
 * job. Reconnects with Last-Event-ID when a stream ends early.
 */
async function followEvents(id, onView) {
  let lastId;
  let failures = 0;
  for (;;) {
    let response;
    try {
      const headers = { accept: 'text/event-stream' };
      if (lastId !== undefined) headers['last-event-id'] = lastId;
      response = await api(`/v1/jobs/${id}/events`, { headers });
    } catch {
      if (++failures > 3) return 'broken';
      await sleep(POLL_MS);
      continue;
    }
    const type = response.headers.get('content-type') || '';
    if (response.status === 404) {
      const body = await response.json().catch(() => ({}));
      return body.code === 'job_not_found' ? 'missing' : 'unsupported';
    }
    if (!response.ok || !type.startsWith('text/event-stream') || !response.body) {
      await response.body?.cancel();
      return 'unsupported';
    }
    setLive('live (server-sent events)');
    const parser = new SseParser();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let done = false;
    try {
      for (;;) {
        const { value, done: ended } = await reader.read();
        if (ended) break;
        for (const event of parser.push(value)) {
          if (event.id !== undefined) lastId = event.id;
          if (event.type !== 'progress' && event.type !== 'done') continue;
          onView(JSON.parse(event.data));
          if (event.type === 'done') done = true;
        }
        if (done) break;
      }
    } catch {
      // the connection dropped: reconnect below
    } finally {
      reader.cancel().catch(() => undefined);
    }
    if (done) return 'done';
    if (++failures > 5) return 'broken';
    await sleep(POLL_MS);
  }
}

/** Polls GET /v1/jobs/{id} every second until the job is final. */
async function pollJob(id, onView) {
  setLive('live (polling every second)');
  for (;;) {
    let view;
    try {
      view = await json(await api(`/v1/jobs/${id}`));
    } catch (err) {
      if (err.status === 404) throw err;
      setLive(`retrying: ${err.message}`);
      await sleep(POLL_MS);
      continue;
    }
    onView(view);
    if (FINAL.has(view.status)) return;
    await sleep(POLL_MS);
  }
}

function setLive(text) {
  const live = byId('live');
  if (live) live.textContent = text;
}

// ---------------------------------------------------------------------------------------------------------------
// The job page.

function renderState(view) {
  const status = byId('status');
  status.textContent = view.status;
  status.className = `status status-${view.status}`;
  const bar = byId('progress');
  const p = view.progress || { completed: 0, total: 0, fraction: 0 };
  if (view.status === 'queued' && !p.total) {
    bar.removeAttribute('value');
  } else {
    bar.max = 1;
    bar.value = view.status === 'succeeded' ? 1 : p.fraction;
  }
  bar.setAttribute('aria-valuenow', String(bar.value));
  byId('progress-text').textContent = p.total
    ? `${p.completed} / ${p.total} units (${Math.round(100 * p.fraction)}%)` +
      (view.shards ? ` · ${view.shards.succeeded}/${view.shards.total} pieces done` : '')
    : '';
  const times = byId('times');
  times.replaceChildren();
  for (const [label, value] of [
    ['created', view.createdAt],
    ['started', view.startedAt],
    ['finished', view.finishedAt],
    ['attempts', view.attempts],
  ]) {
    if (value === null || value === undefined) continue;
    times.append(el('dt', { text: label }), el('dd', { text: value }));
  }
  const error = byId('job-error');
  if (view.error) {
    error.textContent = `${view.error.code}: ${view.error.message}`;
    show(error);
  } else show(error, false);
  byId('request').textContent = JSON.stringify(view.request, null, 2);
}

/** Summary entries as rows: scalars, short numeric arrays, one level of small objects. */
export function summaryRows(summary) {
  const rows = [];
  const visit = (prefix, value, depth) => {
    if (value === null || ['number', 'string', 'boolean'].includes(typeof value)) {
      rows.push([prefix, typeof value === 'number' ? fmt(value) : String(value)]);
    } else if (Array.isArray(value)) {
      if (value.length <= 16 && value.every((v) => typeof v === 'number')) {
        rows.push([prefix, value.map(fmt).join(', ')]);
      } else if (value.length <= 16 && value.every((v) => typeof v === 'string')) {
        rows.push([prefix, value.join(', ')]);
      } else rows.push([prefix, `[${value.length} items]`]);
    } else if (typeof value === 'object' && depth < 2) {
      for (const [k, v] of Object.entries(value)) visit(`${prefix}.${k}`, v, depth + 1);
    }
  };
  for (const [key, value] of Object.entries(summary || {})) {
    if (key === 'verification') continue;
    visit(key, value, 0);
  }
  return rows;
}

function renderResult(view) {
  const result = view.result;
  if (!result) return;
  const summary = byId('summary');
  summary.replaceChildren();
  const head = [
    ['method', result.method],
    ['numParams', String(result.numParams)],
    ['backend', result.backend],
  ];
  for (const [k, v] of [
    ...head,
    ...summaryRows(result.summary),
    ...Object.entries(result.timings || {}).map(([k, v]) => [`timings.${k}`, `${fmt(v)} s`]),
  ]) {
    summary.append(el('tr', {}, el('th', { text: k }), el('td', { text: v })));
  }
  show(byId('summary-section'));

  const verification = result.summary && result.summary.verification;
  if (verification) {
    const verdict = byId('verification-verdict');
    verdict.textContent = verification.passed ? 'passed' : 'FAILED';
    verdict.className = verification.passed ? 'ok' : 'error';
    const table = byId('verification');
    table.replaceChildren(
      el('tr', {}, ...['check', 'passed', 'value', 'tolerance', 'detail'].map((h) => el('th', { text: h }))),
    );
    for (const c of verification.checks || []) {
      table.append(
        el(
          'tr',
          { class: c.passed ? '' : 'bad' },
          el('td', { text: c.name }),
          el('td', { text: c.inconclusive ? 'inconclusive' : c.passed ? 'yes' : 'no' }),
          el('td', { class: 'num', text: fmt(c.value) }),
          el('td', { class: 'num', text: fmt(c.tolerance) }),
          el('td', { text: c.detail || '' }),
        ),
      );
    }
    const warnings = byId('verification-warnings');
    warnings.replaceChildren(...(verification.warnings || []).map((w) => el('li', { text: w })));
    show(byId('verification-section'));
  }

  const list = byId('artifacts');
  list.replaceChildren();
  for (const a of result.artifacts || []) {
    // hrefs come from the API (/v1/jobs/<id>/artifacts/<encoded name>); anything else is not linked.
    const safe = typeof a.href === 'string' && a.href.startsWith(`/v1/jobs/${view.id}/artifacts/`);
    const filename = a.name.replaceAll('/', '_');
    const link = el('a', {
      href: safe ? a.href : undefined,
      download: filename,
      class: 'artifact',
      text: a.name,
    });
    link.addEventListener('click', (event) => downloadWithKey(event, a.href, filename));
    list.append(
      el(
        'li',
        {},
        link,
        el('span', {
          class: 'muted',
          text: ` [${a.shape.join(' × ')}] ${a.dtype}, ${bytes(a.bytes)}`,
        }),
      ),
    );
  }
  show(byId('artifacts-section'), (result.artifacts || []).length > 0);
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** A plain link needs no key; with one, the file is fetched with it and saved from a blob. */
async function downloadWithKey(event, href, filename) {
  if (!storedKey()) return;
  event.preventDefault();
  try {
    const response = await api(href);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const url = URL.createObjectURL(await response.blob());
    const a = el('a', { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (err) {
    pageError(`download of ${filename} failed: ${err.message}`);
  }
}

async function jobPage() {
  const match = /^\/jobs\/([^/]+)\/?$/.exec(location.pathname);
  const id = match ? decodeURIComponent(match[1]) : '';
  if (!JOB_ID.test(id)) {
    pageError('This is not a job id: ids contain only letters, digits, "_" and "-".');
    return;
  }
  byId('job-id').textContent = id;
  document.title = `Job ${id} · Hessian service`;
  let last;
  const onView = (view) => {
    last = view;
    renderState(view);
  };
  try {
    const outcome = await followEvents(id, onView);
    if (outcome === 'missing') throw Object.assign(new Error('not found'), { status: 404 });
    if (outcome !== 'done') await pollJob(id, onView);
  } catch (err) {
    if (err.status === 404) pageError(`No job ${id} (for this API key).`);
    else pageError(err.message);
    return;
  }
  setLive('');
  if (last && last.status === 'succeeded') {
    renderResult(last);
    await renderPlots(id);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Plots.

const W = 640;
const H = 260;
const PAD = { left: 56, right: 12, top: 12, bottom: 36 };

function scale(d0, d1, r0, r1) {
  const span = d1 - d0 || 1;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

function frame(title, width = W, height = H) {
  const root = svg('svg', {
    class: 'plot',
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: 'img',
    'aria-label': title,
  });
  root.append(svg('title', { text: title }));
  return root;
}

function axes(root, x0, x1, y0, y1, labels) {
  const left = PAD.left;
  const right = W - PAD.right;
  const top = PAD.top;
  const bottom = H - PAD.bottom;
  root.append(
    svg('line', { class: 'axis', x1: left, y1: bottom, x2: right, y2: bottom }),
    svg('line', { class: 'axis', x1: left, y1: top, x2: left, y2: bottom }),
    svg('text', { class: 'tick', x: left, y: bottom + 14, 'text-anchor': 'start', text: fmt(x0) }),
    svg('text', { class: 'tick', x: right, y: bottom + 14, 'text-anchor': 'end', text: fmt(x1) }),
    svg('text', { class: 'tick', x: left - 4, y: bottom, 'text-anchor': 'end', text: fmt(y0) }),
    svg('text', { class: 'tick', x: left - 4, y: top + 10, 'text-anchor': 'end', text: fmt(y1) }),
    svg('text', { class: 'label', x: (left + right) / 2, y: H - 4, 'text-anchor': 'middle', text: labels.x }),
  );
  if (labels.y) {
    root.append(
      svg('text', {
        class: 'label',
        x: 12,
        y: (top + bottom) / 2,
        'text-anchor': 'middle',
        transform: `rotate(-90 12 ${(top + bottom) / 2})`,
        text: labels.y,
      }),
    );
  }
}

function figure(id, title, ...content) {
  return el('figure', { id, class: 'figure' }, el('figcaption', { text: title }), ...content);
}

/** The spectral density as a polyline, the eigenvalue estimates as vertical marks. */
function densityFigure(density, eigenvalues) {
  const holder = el('div');
  const toggle = el('input', { type: 'checkbox', id: 'density-log' });
  const draw = () => {
    const log = toggle.checked;
    const ys = density.values.map((v) => (log ? Math.log10(Math.max(v, 1e-12)) : v));
    const x0 = Math.min(...density.grid);
    const x1 = Math.max(...density.grid);
    let y0 = log ? Math.min(...ys) : 0;
    const y1 = Math.max(...ys);
    if (log) y0 = Math.max(y0, y1 - 12);
    const sx = scale(x0, x1, PAD.left, W - PAD.right);
    const sy = scale(y0, y1, H - PAD.bottom, PAD.top);
    const root = frame('spectral density');
    axes(root, x0, x1, log ? 10 ** y0 : y0, log ? 10 ** y1 : y1, {
      x: 'eigenvalue',
      y: log ? 'density (log)' : 'density',
    });
    const points = density.grid.map((x, i) => `${sx(x).toFixed(2)},${sy(Math.max(ys[i], y0)).toFixed(2)}`);
    root.append(svg('polyline', { class: 'curve', points: points.join(' '), 'data-points': points.length }));
    for (const [i, value] of (eigenvalues ? eigenvalues.values : []).entries()) {
      const x = sx(Math.min(x1, Math.max(x0, value)));
      root.append(
        svg(
          'line',
          { class: 'marker', x1: x, x2: x, y1: PAD.top, y2: H - PAD.bottom, 'data-value': value },
          svg('title', { text: `λ${i + 1} ≈ ${fmt(value)}` }),
        ),
      );
    }
    holder.replaceChildren(root);
  };
  toggle.addEventListener('change', draw);
  draw();
  const marks = eigenvalues
    ? `; marks: ${eigenvalues.values.length} largest Ritz values of the first probe (≈ the top eigenvalues)`
    : '';
  return figure(
    'density-plot',
    `Spectral density (${density.points} points${density.points > density.grid.length ? `, shown as ${density.grid.length}` : ''})${marks}`,
    el('label', { class: 'option' }, toggle, ' log scale'),
    holder,
  );
}

/** Bars of a histogram: one rect per bin. */
function histogramSvg(h, title, xLabel) {
  const root = frame(title);
  const x0 = h.edges[0];
  const x1 = h.edges[h.edges.length - 1];
  const top = Math.max(1, ...h.counts);
  axes(root, x0, x1, 0, top, { x: xLabel, y: 'count' });
  const sx = scale(x0, x1, PAD.left, W - PAD.right);
  const sy = scale(0, top, H - PAD.bottom, PAD.top);
  h.counts.forEach((count, b) => {
    const left = sx(h.edges[b]);
    const width = Math.max(0.5, sx(h.edges[b + 1]) - left - 1);
    root.append(
      svg(
        'rect',
        {
          class: 'bar',
          x: left,
          y: sy(count),
          width,
          height: H - PAD.bottom - sy(count),
          'data-count': count,
        },
        svg('title', { text: `[${fmt(h.edges[b])}, ${fmt(h.edges[b + 1])}): ${count}` }),
      ),
    );
  });
  return root;
}

function histogramFigure(histogram) {
  const parts = [histogramSvg(histogram.linear, 'histogram of the diagonal', 'diagonal entry')];
  if (histogram.log10Abs) {
    parts.push(histogramSvg(histogram.log10Abs, 'histogram of log10 |diagonal|', 'log10 |diagonal entry|'));
  }
  const extra = [
    histogram.zeros && `${histogram.zeros} zeros`,
    histogram.nonFinite && `${histogram.nonFinite} non-finite`,
  ]
    .filter(Boolean)
    .join(', ');
  return figure(
    'histogram-plot',
    `Diagonal (${histogram.artifact}): ${histogram.count} entries in [${fmt(histogram.min)}, ${fmt(histogram.max)}]${extra ? `, ${extra}` : ''}`,
    ...parts,
  );
}

function perTensorFigure(perTensor) {
  const top = Math.max(...perTensor.map((t) => t.maxAbs), 0) || 1;
  const table = el(
    'table',
    { id: 'per-tensor', class: 'grid' },
    el(
      'tr',
      {},
      ...['tensor', 'shape', 'size', 'mean', 'mean |d|', 'max |d|', ''].map((h) => el('th', { text: h })),
    ),
  );
  for (const t of perTensor) {
    const bar = svg('svg', { class: 'spark', viewBox: '0 0 100 10', width: 100, height: 10 });
    bar.append(
      svg('rect', { class: 'spark-max', x: 0, y: 0, height: 10, width: (100 * t.maxAbs) / top }),
      svg('rect', { class: 'spark-mean', x: 0, y: 2, height: 6, width: (100 * t.meanAbs) / top }),
    );
    table.append(
      el(
        'tr',
        { class: 'tensor-row' },
        el('td', { text: t.name }),
        el('td', { text: `[${t.shape.join(', ')}]` }),
        el('td', { text: t.size }),
        el('td', { text: fmt(t.mean) }),
        el('td', { text: fmt(t.meanAbs) }),
        el('td', { text: fmt(t.maxAbs) }),
        el('td', {}, bar),
      ),
    );
  }
  return figure('per-tensor-plot', 'Per parameter tensor (bars: max |d| and mean |d|, to scale)', table);
}

/** Diverging colour: blue (negative), near-white (0), red (positive); t in [-1, 1]. */
export function diverging(t) {
  const c = Math.max(-1, Math.min(1, t));
  const mid = [247, 247, 247];
  const end = c < 0 ? [33, 102, 172] : [178, 24, 43];
  const a = Math.abs(c);
  return mid.map((m, i) => Math.round(m + (end[i] - m) * a));
}

function heatmapFigure(heatmap, tensors) {
  const size = 512;
  const holder = el('div');
  const readout = el('p', { class: 'muted readout', text: 'Point at a cell to read its value.' });
  const toggle = el('input', { type: 'checkbox', id: 'heatmap-log' });
  const vmax = Math.max(Math.abs(heatmap.min), Math.abs(heatmap.max)) || 1;
  const draw = () => {
    const log = toggle.checked;
    const eps = vmax * 1e-4;
    const norm = (v) =>
      log ? (Math.sign(v) * Math.log10(1 + Math.abs(v) / eps)) / Math.log10(1 + vmax / eps) : v / vmax;
    const canvas = document.createElement('canvas');
    canvas.width = heatmap.cols;
    canvas.height = heatmap.rows;
    const ctx = canvas.getContext('2d');
    const image = ctx.createImageData(heatmap.cols, heatmap.rows);
    heatmap.values.forEach((v, k) => {
      const [r, g, b] = diverging(norm(v));
      image.data.set([r, g, b, 255], 4 * k);
    });
    ctx.putImageData(image, 0, 0);
    const root = frame(`${heatmap.artifact} heat map`, size + 90, size + 20);
    root.append(
      svg('image', {
        class: 'heat',
        x: 0,
        y: 0,
        width: size,
        height: size,
        href: canvas.toDataURL('image/png'),
        preserveAspectRatio: 'none',
        'data-cells': heatmap.rows * heatmap.cols,
      }),
    );
    // Tensor boundaries (where the layout is known), at their offsets along both axes.
    for (const t of tensors || []) {
      if (t.offset === 0) continue;
      const at = (t.offset / heatmap.size) * size;
      root.append(
        svg('line', { class: 'boundary', x1: at, x2: at, y1: 0, y2: size }),
        svg('line', { class: 'boundary', x1: 0, x2: size, y1: at, y2: at }),
      );
    }
    // The colour bar.
    const steps = 64;
    for (let s = 0; s < steps; s++) {
      const t = 1 - (2 * s) / (steps - 1);
      const [r, g, b] = diverging(t);
      root.append(
        svg('rect', {
          x: size + 16,
          y: (s * size) / steps,
          width: 16,
          height: size / steps + 1,
          fill: `rgb(${r},${g},${b})`,
        }),
      );
    }
    root.append(
      svg('text', { class: 'tick', x: size + 36, y: 10, text: fmt(vmax) }),
      svg('text', { class: 'tick', x: size + 36, y: size / 2 + 4, text: '0' }),
      svg('text', { class: 'tick', x: size + 36, y: size, text: fmt(-vmax) }),
    );
    const hit = svg('rect', { class: 'hit', x: 0, y: 0, width: size, height: size });
    hit.addEventListener('mousemove', (event) => {
      const box = hit.getBoundingClientRect();
      const j = Math.min(
        heatmap.cols - 1,
        Math.floor(((event.clientX - box.left) / box.width) * heatmap.cols),
      );
      const i = Math.min(
        heatmap.rows - 1,
        Math.floor(((event.clientY - box.top) / box.height) * heatmap.rows),
      );
      const s = heatmap.starts;
      const rowsText = s[i + 1] - s[i] > 1 ? `${s[i]}…${s[i + 1] - 1}` : `${s[i]}`;
      const colsText = s[j + 1] - s[j] > 1 ? `${s[j]}…${s[j + 1] - 1}` : `${s[j]}`;
      readout.textContent = `[${rowsText}, ${colsText}] ${heatmap.rows < heatmap.size ? 'mean ' : ''}= ${fmt(heatmap.values[i * heatmap.cols + j])}`;
    });
    root.append(hit);
    holder.replaceChildren(root);
  };
  toggle.addEventListener('change', draw);
  draw();
  const scaleText =
    heatmap.rows < heatmap.size
      ? `${heatmap.size}×${heatmap.size} shown as ${heatmap.rows}×${heatmap.cols} block means`
      : `${heatmap.size}×${heatmap.size}`;
  return figure(
    'heatmap-plot',
    `${heatmap.artifact}: ${scaleText}; largest |entry| ${fmt(heatmap.maxAbs)}; blue negative, red positive${tensors ? '; lines: tensor boundaries' : ''}`,
    el('label', { class: 'option' }, toggle, ' symmetric log colour scale'),
    holder,
    readout,
  );
}

function eigenFigure(eigenvalues) {
  const values = eigenvalues.values;
  const root = frame('eigenvalues');
  const lo = Math.min(0, ...values);
  const hi = Math.max(0, ...values);
  axes(root, 1, values.length, lo, hi, { x: 'index', y: 'eigenvalue' });
  const sy = scale(lo, hi, H - PAD.bottom, PAD.top);
  const slot = (W - PAD.left - PAD.right) / values.length;
  root.append(svg('line', { class: 'zero', x1: PAD.left, x2: W - PAD.right, y1: sy(0), y2: sy(0) }));
  values.forEach((v, i) => {
    const y = Math.min(sy(v), sy(0));
    root.append(
      svg(
        'rect',
        {
          class: v < 0 ? 'bar eig negative' : 'bar eig',
          x: PAD.left + i * slot + slot * 0.1,
          y,
          width: Math.max(0.5, slot * 0.8),
          height: Math.max(0.5, Math.abs(sy(v) - sy(0))),
          'data-value': v,
        },
        svg('title', { text: `λ${i + 1} = ${fmt(v)}` }),
      ),
    );
  });
  const more = eigenvalues.total > values.length ? ` (first ${values.length} of ${eigenvalues.total})` : '';
  return figure('eigen-plot', `Eigenvalues${more}`, root);
}

async function renderPlots(id) {
  let preview;
  try {
    preview = await json(await api(`/v1/jobs/${id}/preview`));
  } catch (err) {
    pageError(`the plots could not be loaded: ${err.message}`);
    return;
  }
  const area = byId('plot-area');
  const figures = [];
  if (preview.density) figures.push(densityFigure(preview.density, preview.eigenvalues));
  else if (preview.eigenvalues) figures.push(eigenFigure(preview.eigenvalues));
  if (preview.heatmap) figures.push(heatmapFigure(preview.heatmap, preview.tensors));
  if (preview.histogram) figures.push(histogramFigure(preview.histogram));
  if (preview.perTensor) figures.push(perTensorFigure(preview.perTensor));
  area.replaceChildren(...figures);
  byId('preview-notes').replaceChildren(...preview.notes.map((n) => el('li', { text: n })));
  show(byId('plots'), figures.length > 0 || preview.notes.length > 0);
  document.body.dataset.plots = 'ready';
}

// ---------------------------------------------------------------------------------------------------------------
// The jobs list.

async function jobsPage() {
  const rows = byId('job-rows');
  const more = byId('more');
  const filter = byId('status-filter');
  let cursor = null;
  const load = async (reset) => {
    if (reset) {
      rows.replaceChildren();
      cursor = null;
    }
    const query = new URLSearchParams({ limit: '50' });
    if (cursor) query.set('cursor', cursor);
    if (filter.value) query.set('status', filter.value);
    let page;
    try {
      page = await json(await api(`/v1/jobs?${query}`));
    } catch (err) {
      pageError(err.message);
      return;
    }
    for (const job of page.items) {
      if (!JOB_ID.test(job.id)) continue;
      const method = job.request && job.request.method ? job.request.method.name : '';
      const progress = el('progress', { max: 1, value: job.progress ? job.progress.fraction : 0 });
      rows.append(
        el(
          'tr',
          { class: 'job-row' },
          el('td', {}, el('a', { href: `/jobs/${job.id}`, class: 'job-link', text: job.id })),
          el('td', { text: method }),
          el('td', {}, el('span', { class: `status status-${job.status}`, text: job.status })),
          el('td', {}, progress),
          el('td', { text: job.createdAt }),
        ),
      );
    }
    cursor = page.nextCursor;
    show(more, Boolean(cursor));
    show(byId('empty'), rows.children.length === 0);
    document.body.dataset.loaded = 'true';
  };
  more.addEventListener('click', () => load(false));
  filter.addEventListener('change', () => load(true));
  await load(true);
}

// ---------------------------------------------------------------------------------------------------------------

function start() {
  updateForgetButton();
  byId('forget-key')?.addEventListener('click', () => {
    sessionStorage.removeItem(KEY_STORAGE);
    updateForgetButton();
  });
  const page = document.body.dataset.page;
  const run = page === 'job' ? jobPage : page === 'jobs' ? jobsPage : null;
  run?.().catch((err) => pageError(err.message));
}

if (typeof document !== 'undefined') start();
