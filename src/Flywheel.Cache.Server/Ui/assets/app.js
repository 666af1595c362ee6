// flywheel status page: reads the same JSON API as the CLI (/_api/v1); no framework, no inline code (CSP).
'use strict';

const TOKEN_KEY = 'flywheel-token';
const SVG = 'http://www.w3.org/2000/svg';
const PHASES = ['bootstrap', 'evaluation', 'plan', 'build', 'upload'];
let refreshTimer = null;
let renderSerial = 0;

// ---- DOM helpers: text is always set as text, never parsed as HTML ----
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}
function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined && v !== false) el.setAttribute(k, String(v));
  }
}
function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// ---- formatting ----
function bytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(v) : v.toFixed(v < 10 ? 2 : 1)) + ' ' + units[i];
}
function count(n) { return n === null || n === undefined ? '–' : String(n); }
function percent(r) { return r === null || r === undefined ? '–' : (r * 100).toFixed(1) + '%'; }
function when(t) { return t ? new Date(t).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '–'; }
function seconds(x) { return x === null || x === undefined ? '–' : x < 60 ? x.toFixed(1) + ' s' : (x / 60).toFixed(1) + ' min'; }
function badge(text) { return h('span', { class: 'badge ' + text }, text); }
// A figure the tests compare with the API: shown formatted, its raw value in data-value.
function figure(field, raw, text) { return h('dd', { 'data-field': field, 'data-value': raw === null || raw === undefined ? '' : raw }, text); }

// ---- the API, with the token from sessionStorage as Authorization (never in a URL) ----
class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}
function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }
async function api(path) {
  const headers = { Accept: 'application/json' };
  if (token()) headers.Authorization = 'Bearer ' + token();
  const r = await fetch('/_api/v1' + path, { headers, cache: 'no-store' });
  if (!r.ok) {
    let detail = r.statusText;
    try { const p = await r.json(); detail = p.detail || p.title || detail; } catch (e) { detail = r.statusText; }
    throw new ApiError(r.status, detail);
  }
  return r.json();
}

// ---- charts (plain SVG) ----
// Bars of requests with hits drawn over them, one pair per bucket.
function activityChart(activity, label) {
  const w = 600, hgt = 120, pad = 22, n = activity.requests.length;
  const max = Math.max(1, ...activity.requests);
  const bw = (w - pad * 2) / n;
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${w} ${hgt}`, role: 'img', 'aria-label': label, 'data-chart': label });
  svg.append(s('line', { class: 'axis', x1: pad, y1: hgt - pad, x2: w - pad, y2: hgt - pad }));
  svg.append(s('text', { x: 2, y: 12 }, String(max)));
  svg.append(s('text', { x: 2, y: hgt - pad }, '0'));
  activity.requests.forEach((req, i) => {
    const x = pad + i * bw;
    const rh = (req / max) * (hgt - pad * 2);
    const hh = (activity.hits[i] / max) * (hgt - pad * 2);
    const start = new Date(Date.parse(activity.from) + i * activity.bucketSeconds * 1000);
    svg.append(s('rect', { class: 'requests', x: x + 0.5, y: hgt - pad - rh, width: Math.max(bw - 1, 1), height: rh },
      s('title', {}, `${when(start)}: ${req} requests, ${activity.hits[i]} hits, ${activity.uploads[i]} uploads`)));
    svg.append(s('rect', { class: 'hits', x: x + 0.5, y: hgt - pad - hh, width: Math.max(bw - 1, 1), height: hh }));
  });
  svg.append(s('text', { x: pad, y: hgt - 6 }, when(activity.from).slice(11, 16)));
  svg.append(s('text', { x: w - pad - 28, y: hgt - 6 }, 'now'));
  return svg;
}

// Peak memory of each installable on a lane as bars, the lane's envelope as a dashed line.
function memoryChart(lane, rows) {
  const w = 600, barH = 18, left = 190, right = 70, top = 10;
  const hgt = top * 2 + Math.max(rows.length, 1) * (barH + 6) + 16;
  const max = Math.max(lane.memoryBytes, ...rows.map(r => r.peak)) * 1.05;
  const scale = v => left + (v / max) * (w - left - right);
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${w} ${hgt}`, role: 'img', 'aria-label': 'peak memory on ' + lane.name, 'data-chart': 'memory-' + lane.name });
  rows.forEach((r, i) => {
    const y = top + i * (barH + 6);
    const name = r.installable.length > 32 ? '…' + r.installable.slice(-31) : r.installable;
    svg.append(s('text', { x: 4, y: y + 13 }, name));
    svg.append(s('rect', { class: 'peak' + (r.peak > lane.memoryBytes ? ' over' : ''), x: left, y, width: Math.max(scale(r.peak) - left, 1), height: barH },
      s('title', {}, `${r.installable}: peak ${bytes(r.peak)} of ${bytes(lane.memoryBytes)}`)));
    svg.append(s('text', { x: scale(r.peak) + 4, y: y + 13 }, bytes(r.peak)));
  });
  const ex = scale(lane.memoryBytes);
  svg.append(s('line', { class: 'envelope', x1: ex, y1: 2, x2: ex, y2: hgt - 14 }));
  svg.append(s('text', { x: ex - 4, y: hgt - 4, 'text-anchor': 'end' }, 'envelope ' + bytes(lane.memoryBytes)));
  return svg;
}

// ---- views ----
async function overview(view) {
  const data = await api('/overview');
  if (data.caches.length === 0) {
    view.append(h('p', { class: 'muted' }, data.authenticated ? 'This token may read no cache.' : 'There is no public cache. Paste a token to see private ones.'));
    return;
  }
  const cards = h('div', { class: 'cards' });
  for (const c of data.caches) {
    const quota = c.quotaBytes;
    const used = c.usage.blobBytes;
    const share = quota ? Math.min(used / quota, 1) : 0;
    const meter = h('div', { class: 'meter' + (share >= 0.9 ? ' full' : '') }, h('div'));
    meter.firstChild.style.width = (share * 100).toFixed(1) + '%';
    cards.append(h('article', { class: 'card', 'data-cache': c.name },
      h('h2', {}, c.name, badge(c.public ? 'public' : 'private')),
      h('dl', { class: 'stats' },
        h('dt', {}, 'narinfos'), figure('narinfos', c.usage.narInfos, count(c.usage.narInfos)),
        h('dt', {}, 'NAR bytes'), figure('nar-bytes', c.usage.narBytes, bytes(c.usage.narBytes)),
        h('dt', {}, 'CAS bytes'), figure('cas-bytes', used, bytes(used)),
        h('dt', {}, 'quota'), figure('quota', quota, quota ? bytes(quota) : 'none'),
        h('dt', {}, 'blobs'), figure('blobs', c.usage.blobs, count(c.usage.blobs)),
        h('dt', {}, 'action results'), figure('action-results', c.usage.actionResults, count(c.usage.actionResults)),
        h('dt', {}, 'hit ratio, hour'), figure('hit-ratio-hour', c.lastHour.hitRatio, percent(c.lastHour.hitRatio)),
        h('dt', {}, 'hit ratio, day'), figure('hit-ratio-day', c.lastDay.hitRatio, percent(c.lastDay.hitRatio)),
        h('dt', {}, 'requests, hour'), figure('requests-hour', c.lastHour.totalRequests, count(c.lastHour.totalRequests)),
        h('dt', {}, 'requests, day'), figure('requests-day', c.lastDay.totalRequests, count(c.lastDay.totalRequests)),
        h('dt', {}, 'uploads, hour'), figure('uploads-hour', c.lastHour.totalUploads, count(c.lastHour.totalUploads)),
        h('dt', {}, 'uploads, day'), figure('uploads-day', c.lastDay.totalUploads, count(c.lastDay.totalUploads))),
      quota ? meter : null,
      h('div', { class: 'legend' }, 'narinfo lookups', h('span', { class: 'key requests' }), 'requests', h('span', { class: 'key hits' }), 'hits'),
      h('h3', {}, 'Last hour (per minute)'), activityChart(c.lastHour, 'hour-' + c.name),
      h('h3', {}, 'Last day (per hour)'), activityChart(c.lastDay, 'day-' + c.name),
      h('h3', {}, 'Upstreams'), upstreams(c.upstreams)));
  }
  view.append(cards);
}

function upstreams(list) {
  if (list === null || list === undefined) return h('p', { class: 'muted' }, 'Shown to a token with admin on this cache.');
  if (list.length === 0) return h('p', { class: 'muted' }, 'none');
  return h('table', { class: 'upstreams' },
    h('tr', {}, h('th', {}, 'url'), h('th', {}, 'priority'), h('th', {}, 'circuit'), h('th', {}, 'last error')),
    list.map(u => h('tr', { 'data-upstream': u.url },
      h('td', { class: 'mono' }, u.url), h('td', { class: 'num' }, u.priority), h('td', {}, badge(u.circuit)),
      h('td', {}, u.lastError ? `${when(u.lastErrorAt)}: ${u.lastError}` : '–'))));
}

function timeline(attempt) {
  const total = attempt.phases.reduce((a, p) => a + p.seconds, 0) || 1;
  const bar = h('div', { class: 'timeline', 'data-attempt': attempt.attempt });
  for (const p of attempt.phases) {
    const part = h('span', { class: 'phase-' + p.name + (p.succeeded ? '' : ' phase-failed'), title: `${p.name}: ${seconds(p.seconds)}` });
    part.style.width = Math.max((p.seconds / total) * 100, 0.5).toFixed(2) + '%';
    bar.append(part);
  }
  return bar;
}

function buildRow(b, detail) {
  const attempts = detail ? detail.attempts : [];
  return h('tr', { 'data-build': b.id },
    h('td', { class: 'mono' }, b.id), h('td', {}, b.installable), h('td', {}, b.cache), h('td', {}, b.lane),
    h('td', {}, badge(b.status), b.phase ? h('span', { 'data-field': 'phase' }, ' ' + b.phase + ' since ' + when(b.phaseStartedAt)) : null),
    h('td', {}, attempts.length === 0 ? h('span', { class: 'muted' }, '–')
      : attempts.map(a => h('div', {}, h('span', { class: 'muted' }, `#${a.attempt} ${a.lane} ${a.outcome} `), timeline(a)))),
    h('td', { class: 'muted' }, b.laneReason));
}

async function builds(view) {
  if (!token()) {
    view.append(h('p', { class: 'muted', 'data-needs-token': 'builds' }, 'Builds and lanes need a token: paste one above.'));
    return;
  }
  const [queued, running, recent, lanes, report] = await Promise.all([
    api('/builds?status=queued&limit=100'), api('/builds?status=running&limit=100'), api('/builds?limit=20'),
    api('/lanes'), api('/lanes/report')]);
  const details = await Promise.all(recent.map(b => api('/builds/' + encodeURIComponent(b.id))));
  const header = () => h('tr', {}, ['id', 'installable', 'cache', 'lane', 'status', 'attempts (bootstrap · evaluation · plan · build · upload)', 'lane reason'].map(t => h('th', {}, t)));

  view.append(h('h2', {}, 'Queue ', h('span', { 'data-field': 'queued', 'data-value': queued.length }, `(${queued.length})`)));
  view.append(queued.length ? h('table', { 'data-table': 'queued' }, header(), queued.map(b => buildRow(b, null))) : h('p', { class: 'muted' }, 'No build is waiting.'));
  view.append(h('h2', {}, 'Running ', h('span', { 'data-field': 'running', 'data-value': running.length }, `(${running.length})`)));
  view.append(running.length ? h('table', { 'data-table': 'running' }, header(), running.map(b => buildRow(b, null))) : h('p', { class: 'muted' }, 'No build is running.'));
  view.append(h('h2', {}, 'Recent builds'));
  view.append(h('div', { class: 'keys' }, PHASES.map(p => h('span', {}, h('i', { class: 'phase-' + p }), p))));
  view.append(recent.length ? h('table', { 'data-table': 'recent' }, header(), recent.map((b, i) => buildRow(b, details[i]))) : h('p', { class: 'muted' }, 'No builds yet.'));

  const reroutes = details.filter(d => d.attempts.some(a => a.outcome === 'oom'));
  view.append(h('h2', {}, 'OOM reroutes ', h('span', { 'data-field': 'oom-reroutes', 'data-value': reroutes.length }, `(${reroutes.length})`)));
  view.append(reroutes.length
    ? h('ul', {}, reroutes.map(d => h('li', { 'data-build': d.id }, `${d.installable}: `, d.laneReason)))
    : h('p', { class: 'muted' }, 'None among the recent builds.'));

  const recommendations = await Promise.all(report.installables.slice(0, 20).map(i =>
    api('/lanes/recommendation?installable=' + encodeURIComponent(i.installable))));
  view.append(h('h2', {}, 'Lanes'));
  const cards = h('div', { class: 'cards' });
  for (const lane of lanes) {
    const rows = report.installables.flatMap(i => i.lanes.filter(l => l.lane === lane.name && l.maxPeakMemoryBytes !== null)
      .map(l => ({ installable: i.installable, peak: l.maxPeakMemoryBytes })));
    const recommended = recommendations.filter(r => r.lane === lane.name);
    cards.append(h('article', { class: 'card', 'data-lane': lane.name },
      h('h2', {}, lane.name, badge(lane.workers.length ? lane.workers.length + ' live' : 'no worker')),
      h('dl', { class: 'stats' },
        h('dt', {}, 'memory'), figure('memory', lane.memoryBytes, bytes(lane.memoryBytes)),
        h('dt', {}, 'CPUs'), figure('cpus', lane.cpus, count(lane.cpus)),
        h('dt', {}, 'concurrency'), figure('concurrency', lane.concurrency, count(lane.concurrency)),
        h('dt', {}, 'live workers'), figure('workers', lane.workers.length, count(lane.workers.length))),
      lane.workers.length ? h('ul', {}, lane.workers.map(w => h('li', { class: 'mono' }, `${w.id} on ${w.host}, seen ${when(w.lastSeen)}`))) : null,
      h('h3', {}, 'Peak memory per installable'),
      rows.length ? memoryChart(lane, rows) : h('p', { class: 'muted' }, 'No attempts on this lane yet.'),
      h('h3', {}, 'Recommended here'),
      recommended.length
        ? h('ul', {}, recommended.map(r => h('li', { 'data-recommendation': r.installable }, h('span', { class: 'mono' }, r.installable), ': ', r.explanation)))
        : h('p', { class: 'muted' }, 'No installable is recommended to this lane.')));
  }
  view.append(cards);
}

async function promotions(view) {
  const list = await api('/promotions?limit=50');
  if (list.length === 0) {
    view.append(h('p', { class: 'muted' }, token() ? 'No promotions in the caches this token may read.' : 'No promotions from public caches. Paste a token to see more.'));
    return;
  }
  for (const p of list) {
    const d = p.decision || { rules: [], reasons: [] };
    const pub = p.publication;
    view.append(h('article', { class: 'card', 'data-promotion': p.id },
      h('h2', {}, h('span', { class: 'mono' }, p.id), badge(p.status), p.class !== p.status ? badge(p.class) : null),
      h('dl', { class: 'stats' },
        h('dt', {}, 'cache'), h('dd', {}, p.cache),
        h('dt', {}, 'when'), h('dd', {}, when(p.createdAt)),
        h('dt', {}, 'repository'), h('dd', {}, p.repository || '–'),
        h('dt', {}, 'revision'), h('dd', { class: 'mono' }, p.revision || '–'),
        h('dt', {}, 'target'), h('dd', { class: 'mono' }, p.target || '–'),
        h('dt', {}, 'reference'), figure('reference', pub ? pub.reference : '', pub ? pub.reference : '–'),
        h('dt', {}, 'digest'), figure('digest', digestOf(pub), digestOf(pub) || '–'),
        h('dt', {}, 'provenance'), figure('provenance', p.provenanceSha256 || '', p.provenanceSha256 ? 'sha256:' + p.provenanceSha256 : '–')),
      h('h3', {}, 'Rules'),
      h('ul', { class: 'rules' }, d.rules.map(r => h('li', { 'data-rule': r.rule, 'data-passed': String(r.passed) },
        badge(r.passed ? 'passed' : 'failed'), ' ', h('strong', {}, r.rule), r.required ? '' : ' (optional)', ': ', r.reason))),
      d.reasons.length ? h('p', {}, 'Refused: ', d.reasons.join('; ')) : null,
      p.error ? h('p', { class: 'muted' }, 'Error: ', p.error) : null,
      h('p', { class: 'mono muted' }, p.storePaths.join(' ')),
      p.provenance ? h('details', {}, h('summary', {}, 'Provenance statement'), h('pre', {}, JSON.stringify(p.provenance, null, 2))) : null));
  }
}

// What was published, by digest: the manifest's for an image, else the first subject's.
function digestOf(pub) {
  if (!pub) return '';
  if (pub.details && pub.details.manifestDigest) return pub.details.manifestDigest;
  return pub.subjects.length ? 'sha256:' + pub.subjects[0].sha256 : '';
}

const VIEWS = { overview, builds, promotions };

async function render() {
  const name = (location.hash || '#overview').slice(1);
  const viewFn = VIEWS[name] || overview;
  const serial = ++renderSerial;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.view === (VIEWS[name] ? name : 'overview'));
  const status = document.getElementById('status');
  const next = h('section', { id: 'view', 'aria-live': 'polite', 'data-view': VIEWS[name] ? name : 'overview' });
  try {
    await viewFn(next);
    if (serial !== renderSerial) return; // a newer render started meanwhile
    status.textContent = '';
    next.setAttribute('data-loaded', new Date().toISOString());
    document.getElementById('view').replaceWith(next);
  } catch (e) {
    if (serial !== renderSerial) return;
    status.textContent = e instanceof ApiError && e.status === 401 ? 'The token was refused: ' + e.message : 'Could not load: ' + e.message;
  }
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(render, name === 'builds' ? 5000 : 15000);
}

function showTokenState() {
  document.getElementById('token-state').textContent = token() ? 'token in use (this tab only)' : 'anonymous';
}

document.getElementById('token-form').addEventListener('submit', e => {
  e.preventDefault();
  const input = document.getElementById('token');
  const value = input.value.trim();
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  input.value = '';
  showTokenState();
  render();
});
document.getElementById('token-forget').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showTokenState();
  render();
});
window.addEventListener('hashchange', render);
showTokenState();
render();
