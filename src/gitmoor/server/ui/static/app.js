// gitmoor UI: a small hand-written app over the JSON API under ./api (see routes.py).
// Every value from the server goes into the page as text (never as HTML).
"use strict";

const S = {
  session: null, csrf: null, overview: null, live: null, view: null,
  filter: { namespace: "", status: "", q: "" }, sync: null, refresh: null,
};

// -- small helpers ------------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}
const $ = (sel) => document.querySelector(sel);
function main(...children) {
  const m = $("#main");
  m.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== ""));
}
function announce(text) { $("#announce").textContent = text; }

function shortRev(rev) {
  if (!rev) return "";
  const i = rev.lastIndexOf("sha1:");
  return i < 0 ? rev : rev.slice(0, i) + rev.slice(i + 5, i + 5 + 12);
}
function age(iso) {
  if (!iso) return "";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  let sec = Math.max(0, (Date.now() - t) / 1000);
  for (const [n, unit] of [[86400, "d"], [3600, "h"], [60, "m"]]) {
    if (sec >= n) return Math.floor(sec / n) + unit;
  }
  return Math.floor(sec) + "s";
}
function when(iso) { return iso ? h("time", { datetime: iso, title: iso }, age(iso) + " ago") : ""; }
function badge(text, cls) { return h("span", { class: "badge " + (cls || text) }, text); }
function duration(a, b) {
  if (!a || !b) return "";
  const sec = (Date.parse(b) - Date.parse(a)) / 1000;
  return sec < 120 ? sec.toFixed(1) + "s" : (sec / 60).toFixed(1) + "m";
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}
async function api(path, opts) {
  const o = opts || {};
  const headers = { Accept: "application/json" };
  if (o.body !== undefined) headers["Content-Type"] = "application/json";
  if (o.method && o.method !== "GET" && S.csrf) headers["X-Gitmoor-CSRF"] = S.csrf;
  const resp = await fetch("api/" + path, {
    method: o.method || "GET", headers, credentials: "same-origin",
    body: o.body === undefined ? undefined : JSON.stringify(o.body),
  });
  let data = null;
  try { data = await resp.json(); } catch (_) { data = null; }
  if (!resp.ok) throw new ApiError(resp.status, (data && data.message) || resp.statusText);
  return data;
}
const enc = encodeURIComponent;

// -- session ------------------------------------------------------------------------------
async function start() {
  $("#signout").addEventListener("click", signOut);
  window.addEventListener("hashchange", route);
  try {
    const who = await api("session");
    signedIn(who);
  } catch (e) {
    if (e.status === 401) return login();
    return main(h("p", { class: "error" }, "The UI cannot answer: " + e.message));
  }
}
function signedIn(who) {
  S.session = who;
  S.csrf = who.csrf;
  $("#who").textContent = who.user;
  $("#signout").hidden = who.mode === "proxy";
  connectLive();
  route();
}
async function signOut() {
  try { await api("logout", { method: "POST", body: {} }); } catch (_) { /* gone anyway */ }
  if (S.live) S.live.close();
  location.hash = "#/";
  location.reload();
}
function login(message) {
  const key = new URLSearchParams(location.hash.split("?")[1] || "").get("key");
  if (key) return submitLogin(key);
  const err = h("p", { class: "error", id: "login-error", role: "alert" }, message || "");
  const area = h("textarea", { id: "token", name: "token", required: true, autocomplete: "off",
    spellcheck: "false", "aria-describedby": "token-help" });
  const form = h("form", { class: "panel login", onsubmit: (ev) => {
    ev.preventDefault();
    submitLogin(area.value.trim());
  } },
    h("h1", {}, "Sign in"),
    h("label", { for: "token" }, "Kubernetes bearer token"),
    area,
    h("p", { id: "token-help", class: "muted" },
      "What you may see and do is what your own RBAC allows (get / patch syncs.gitmoor.io). " +
      "E.g. kubectl create token <service-account>."),
    err,
    h("button", { type: "submit" }, "Sign in"));
  main(h("section", { class: "panel" }, form));
  area.focus();
}
async function submitLogin(token) {
  try {
    const who = await api("login", { method: "POST", body: { token } });
    if (location.hash.includes("key=")) location.hash = "#/";
    signedIn(who);
  } catch (e) {
    login(e.message);
  }
}

// -- live updates -------------------------------------------------------------------------
function connectLive() {
  if (S.live) S.live.close();
  const es = new EventSource("api/live");
  S.live = es;
  const mark = (on) => {
    const el = $("#live");
    el.textContent = on ? "live" : "offline";
    el.classList.toggle("on", on);
  };
  es.addEventListener("hello", () => mark(true));
  es.onerror = () => mark(false);
  es.addEventListener("sync", (ev) => onRow(JSON.parse(ev.data)));
  es.addEventListener("source", (ev) => onRow(JSON.parse(ev.data)));
  es.addEventListener("gone", (ev) => onRow({ ...JSON.parse(ev.data), gone: true }));
}
function onRow(row) {
  if (S.view === "overview" && S.overview) {
    const list = row.kind === "Sync" ? S.overview.syncs : S.overview.sources;
    const i = list.findIndex((r) => r.kind === row.kind && r.namespace === row.namespace && r.name === row.name);
    if (row.gone) { if (i >= 0) list.splice(i, 1); }
    else if (i >= 0) list[i] = row;
    else list.push(row);
    scheduleRender(drawOverview);
  }
  if (S.view === "sync" && S.sync && row.kind === "Sync" &&
      row.namespace === S.sync.ns && row.name === S.sync.name) {
    scheduleRender(() => loadSync(S.sync.ns, S.sync.name, true));
  }
}
function scheduleRender(fn) {
  clearTimeout(S.refresh);
  S.refresh = setTimeout(fn, 150);
}

// -- routing ------------------------------------------------------------------------------
function route() {
  if (!S.session) return;
  const parts = (location.hash.replace(/^#\/?/, "").split("?")[0] || "").split("/").map(decodeURIComponent);
  for (const a of document.querySelectorAll("nav a")) a.removeAttribute("aria-current");
  if (parts[0] === "sync" && parts.length >= 3) {
    S.view = "sync";
    loadSync(parts[1], parts[2], false);
  } else if (parts[0] === "environments") {
    S.view = "environments";
    $("#nav-environments").setAttribute("aria-current", "page");
    loadEnvironments();
  } else {
    S.view = "overview";
    $("#nav-overview").setAttribute("aria-current", "page");
    loadOverview();
  }
}

// -- overview -----------------------------------------------------------------------------
async function loadOverview() {
  try {
    S.overview = await api("overview");
  } catch (e) {
    return main(h("p", { class: "error" }, e.message));
  }
  drawOverview();
}
function admits(row) {
  const f = S.filter;
  if (f.namespace && row.namespace !== f.namespace) return false;
  if (f.status === "drifted" && !row.drifted) return false;
  if (f.status === "unhealthy" && row.healthy !== "False") return false;
  if (f.status && !["drifted", "unhealthy"].includes(f.status) && row.state !== f.status) return false;
  if (f.q) {
    const hay = [row.namespace, row.name, row.source, row.url, row.applied_revision, row.revision,
      row.message, row.commit_subject, row.commit_author, row.environment].join(" ").toLowerCase();
    if (!hay.includes(f.q.toLowerCase())) return false;
  }
  return true;
}
function countsOf(rows) {
  const c = { total: 0, ready: 0, failed: 0, reconciling: 0, suspended: 0, unknown: 0, drifted: 0, unhealthy: 0 };
  for (const r of rows) {
    c.total++; c[r.state]++;
    if (r.drifted) c.drifted++;
    if (r.healthy === "False") c.unhealthy++;
  }
  return c;
}
function drawOverview() {
  const o = S.overview;
  if (!o || S.view !== "overview") return;
  const focused = document.activeElement && document.activeElement.id;
  const counts = countsOf(o.syncs);
  const countButtons = [["", "All", counts.total], ["ready", "Ready", counts.ready],
    ["failed", "Failed", counts.failed], ["reconciling", "Reconciling", counts.reconciling],
    ["drifted", "Drifted", counts.drifted], ["unhealthy", "Unhealthy", counts.unhealthy],
    ["suspended", "Suspended", counts.suspended]].map(([key, label, n]) =>
    h("button", { type: "button", "aria-pressed": String(S.filter.status === key), "data-status": key,
      onclick: () => { S.filter.status = key; drawOverview(); } }, label, h("b", {}, n)));
  const namespaces = [...new Set([...o.syncs, ...o.sources].map((r) => r.namespace))].sort();
  const nsSelect = h("select", { id: "f-namespace", onchange: (ev) => { S.filter.namespace = ev.target.value; drawOverview(); } },
    h("option", { value: "" }, "All namespaces"),
    namespaces.map((n) => h("option", { value: n, selected: n === S.filter.namespace }, n)));
  const text = h("input", { id: "f-text", type: "search", value: S.filter.q, placeholder: "name, revision, message…",
    oninput: (ev) => { S.filter.q = ev.target.value; drawOverview(); } });
  const rows = o.syncs.filter(admits);
  const body = h("tbody", {}, rows.map(syncRow));
  const table = h("table", { id: "syncs" },
    h("caption", {}, `${rows.length} of ${o.syncs.length} Syncs` +
      (o.hidden_namespaces ? ` (${o.hidden_namespaces} namespace(s) you may not read are left out)` : "")),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Sync"), h("th", { scope: "col" }, "State"),
      h("th", { scope: "col" }, "Revision"), h("th", { scope: "col", class: "wide" }, "Age"),
      h("th", { scope: "col", class: "wide" }, "Message"))),
    body);
  const sources = o.sources.filter(admits);
  const srcTable = h("table", { id: "sources" },
    h("caption", {}, `${sources.length} sources`),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Source"), h("th", { scope: "col" }, "State"),
      h("th", { scope: "col" }, "Revision"), h("th", { scope: "col", class: "wide" }, "Message"))),
    h("tbody", {}, sources.map((r) => h("tr", { "data-key": `${r.namespace}/${r.name}`, "data-kind": r.kind },
      h("td", {}, r.name, h("span", { class: "sub" }, `${r.kind} · ${r.namespace} · ${r.url}`)),
      h("td", {}, badge(r.state)),
      h("td", {}, h("code", {}, shortRev(r.revision)), h("span", { class: "sub" }, r.commit_subject)),
      h("td", { class: "msg wide" }, r.message)))));
  main(
    h("h1", {}, "Overview", o.cluster ? h("span", { class: "sub" }, "cluster " + o.cluster) : ""),
    h("div", { class: "counts", role: "group", "aria-label": "Syncs by state" }, countButtons),
    h("div", { class: "filters" },
      h("div", {}, h("label", { for: "f-namespace" }, "Namespace"), nsSelect),
      h("div", {}, h("label", { for: "f-text" }, "Filter"), text)),
    h("div", { class: "table-wrap" }, table),
    h("h2", {}, "Sources"),
    h("div", { class: "table-wrap" }, srcTable));
  if (focused) {
    const el = document.getElementById(focused);
    if (el) { el.focus(); if (el.setSelectionRange && el.value) el.setSelectionRange(el.value.length, el.value.length); }
  }
}
function stateBadges(r) {
  return [badge(r.state), r.healthy === "False" ? badge("unhealthy", "failed") : null,
    r.drifted ? badge("drifted") : null, r.pinned ? badge("pinned") : null];
}
function syncRow(r) {
  const href = `#/sync/${enc(r.namespace)}/${enc(r.name)}`;
  return h("tr", { "data-key": `${r.namespace}/${r.name}`, "data-state": r.state },
    h("td", {}, h("a", { href }, r.name), h("span", { class: "sub" }, r.namespace)),
    h("td", {}, stateBadges(r)),
    h("td", {}, h("code", { class: "revision" }, shortRev(r.applied_revision)),
      r.commit_subject ? h("span", { class: "sub" }, r.commit_subject + (r.commit_author ? " — " + r.commit_author : "")) : ""),
    h("td", { class: "wide" }, age(r.created)),
    h("td", { class: "msg wide" }, r.message));
}

// -- a Sync -------------------------------------------------------------------------------
async function loadSync(ns, name, quiet) {
  if (!S.sync || S.sync.ns !== ns || S.sync.name !== name) S.sync = { ns, name };
  let d, timeline;
  try {
    [d, timeline] = await Promise.all([
      api(`syncs/${enc(ns)}/${enc(name)}`),
      api(`syncs/${enc(ns)}/${enc(name)}/timeline`),
    ]);
  } catch (e) {
    return main(h("p", { class: "error" }, e.message));
  }
  if (S.view !== "sync" || S.sync.ns !== ns || S.sync.name !== name) return;
  const r = d.row;
  const page = h("div", { id: "sync-page", "data-revision": r.applied_revision },
    h("p", {}, h("a", { href: "#/" }, "← Overview")),
    h("h1", {}, r.name, h("span", { class: "sub" }, `Sync in ${r.namespace}`)),
    h("p", {}, stateBadges(r), " ", h("code", { id: "applied-revision", class: "revision" }, shortRev(r.applied_revision)),
      r.commit_subject ? h("span", { class: "sub" }, r.commit_subject + (r.commit_author ? " — " + r.commit_author : "")) : ""),
    actions(d),
    h("section", { class: "panel" }, h("h2", {}, "Conditions"), conditions(d.conditions)),
    h("section", { class: "panel", id: "drift" }, h("h2", {}, "Drift"), drift(d)),
    h("div", { class: "grid" },
      h("section", { class: "panel", id: "tree" }, h("h2", {}, "Resources"), h("p", { class: "muted" }, "Loading…")),
      h("section", { class: "panel", id: "timeline" }, h("h2", {}, "Timeline"), timelineOf(d, timeline))),
    h("div", { class: "grid" },
      h("section", { class: "panel", id: "source" }, h("h2", {}, "Source"), sourceOf(d)),
      h("section", { class: "panel", id: "events" }, h("h2", {}, "Events"), h("p", { class: "muted" }, "Loading…"))));
  const focused = document.activeElement && document.activeElement.dataset && document.activeElement.dataset.action;
  main(page);
  if (!quiet) $("#main").focus();
  if (focused) { const b = document.querySelector(`button[data-action="${focused}"]`); if (b) b.focus(); }
  // The tree and Events are read from the API server: on a live update at most every 10 s,
  // so an open page costs the cluster little however often the Sync changes.
  const now = Date.now();
  if (!quiet || now - (S.sync.cluster_read || 0) > 10000 || !S.sync.tree) {
    S.sync.cluster_read = now;
    S.sync.tree = null;
    S.sync.events = null;
  }
  loadTree(ns, name);
  loadEvents(ns, name);
}
function actions(d) {
  if (!d.can_patch) return h("p", { class: "muted", id: "no-actions" }, "You may look, not act: that takes patch on syncs here.");
  const r = d.row;
  const act = (action, label, cls) => h("button", { type: "button", "data-action": action, class: cls || "",
    disabled: action === "sync" && r.suspended, onclick: (ev) => doAction(action, ev.target) }, label);
  return h("div", { class: "actions", id: "actions" },
    act("sync", "Sync now"),
    r.suspended ? act("resume", "Resume", "secondary") : act("suspend", "Suspend", "secondary"),
    r.pinned ? act("unpin", "Follow Git again", "secondary") : null,
    h("span", { id: "action-status", class: "muted", role: "status" }));
}
async function doAction(action, button, body) {
  const { ns, name } = S.sync;
  button.disabled = true;
  const status = $("#action-status");
  try {
    await api(`syncs/${enc(ns)}/${enc(name)}/${action}`, { method: "POST", body: body || {} });
    if (status) status.textContent = `${action}: requested`;
    announce(`${action} requested for ${name}`);
  } catch (e) {
    if (status) status.textContent = `${action}: ${e.message}`;
    announce(e.message);
  } finally {
    button.disabled = false;
  }
}
function conditions(list) {
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, ["Type", "Status", "Reason", "Message"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, list.map((c) => h("tr", {}, h("td", {}, c.type), h("td", {}, badge(c.status)),
      h("td", {}, c.reason), h("td", { class: "msg" }, c.message))))));
}
function show(value) {
  if (value === null || value === undefined) return "(not set)";
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}
// What the agent put back (drift: correct), from the ledger: "corrected 3m ago: ConfigMap/settings data.mode".
function corrections(d) {
  const list = d.corrections || [];
  if (!list.length) return null;
  return h("ul", { class: "corrections", id: "corrections", "aria-label": "Drift corrections" }, list.map((c) =>
    h("li", { "data-result": c.result }, c.result === "applied" ? "corrected " : `correction ${c.result.replace("_", " ")} `, when(c.at), ": ",
      c.objects.length ? c.objects.flatMap((o, i) => [i ? "; " : "", h("code", {}, `${o.kind}/${o.name}`),
        o.fields.length ? " " + o.fields.join(", ") : ""]) : "",
      c.message ? h("span", { class: "sub" }, c.message) : null)));
}
function drift(d) {
  if (!d.row.drifted && !d.drift.length) return h("div", {}, h("p", { class: "muted" }, "Nothing differs from Git."), corrections(d));
  const parts = [h("p", { class: "msg" }, d.row.drift_message)];
  for (const o of d.drift) {
    parts.push(h("h3", {}, `${o.kind}/${o.name}`, o.deleted ? " (deleted)" : ""),
      h("div", { class: "table-wrap" }, h("table", { class: "diff" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Field"), h("th", { scope: "col" }, "Git"), h("th", { scope: "col" }, "Live"))),
        h("tbody", {}, o.fields.map((f) => h("tr", {}, h("td", {}, h("code", {}, f.path)),
          h("td", { class: "git" }, h("pre", {}, show(f.git))), h("td", { class: "live" }, h("pre", {}, show(f.live)))))))));
  }
  parts.push(corrections(d));
  return h("div", {}, parts);
}
function timelineOf(d, timeline) {
  const items = timeline.items || [];
  if (!timeline.ledger) {
    return h("ol", { class: "timeline" }, (d.history || []).map((e) => h("li", { class: (e.result || "").toLowerCase() },
      badge(e.result), " ", h("code", {}, shortRev(e.revision)), h("span", { class: "sub" }, e.changes || ""),
      h("span", { class: "sub" }, when(e.finishedAt)))));
  }
  if (!items.length) return h("p", { class: "muted" }, "No attempts recorded yet.");
  // What runs now: the newest record that left something running. Earlier records of other
  // content can be rolled back to; those of the same content would change nothing.
  const running = items.find((rec) => rec.deployed_revision);
  let seenCurrent = false;
  return h("ol", { class: "timeline" }, items.map((rec) => {
    const deployed = rec.deployed_revision;
    if (rec === running) seenCurrent = true;
    const same = running && (rec.content && running.content ? rec.content === running.content
      : deployed === running.deployed_revision);
    const canRoll = d.can_patch && deployed && rec !== running && seenCurrent && !same;
    const changes = [rec.created && `${rec.created} created`, rec.configured && `${rec.configured} configured`,
      rec.deleted && `${rec.deleted} deleted`].filter(Boolean).join(", ") || "no change";
    return h("li", { class: rec.result, "data-result": rec.result, "data-record": rec.id },
      badge(rec.result.replace("_", " "), rec.result), " ", h("code", {}, shortRev(rec.revision)),
      " ", badge(rec.trigger, "trigger"),
      rec.rolled_back_to ? h("span", { class: "sub" }, "rolled back to " + shortRev(rec.rolled_back_to)) : "",
      rec.commit_message ? h("span", { class: "sub" }, rec.commit_message) : "",
      h("span", { class: "sub" }, changes + " · " + duration(rec.started_at, rec.finished_at) + " · ", when(rec.started_at)),
      rec.message ? h("span", { class: "sub" }, rec.message) : "",
      canRoll ? h("button", { type: "button", class: "secondary", "data-rollback": rec.id,
        onclick: (ev) => confirmRollback(rec, ev.target) }, "Roll back to this") : null);
  }));
}
async function confirmRollback(rec, button) {
  const { ns, name } = S.sync;
  let diff;
  try {
    diff = await api(`syncs/${enc(ns)}/${enc(name)}/rollback?record=${enc(rec.id)}`);
  } catch (e) { return announce(e.message); }
  const list = (title, items, cls) => items.length ? h("div", {}, h("h3", {}, title),
    h("ul", { class: cls }, items.map((i) => h("li", {}, h("code", {}, i))))) : null;
  $("#confirm-title").textContent = `Roll back ${name}?`;
  $("#confirm-body").replaceChildren(...[
    h("p", {}, "From ", h("code", {}, shortRev(diff.from.revision) || "(unknown)"), " to ",
      h("code", {}, shortRev(diff.to.revision)), diff.to.commit_message ? ` (${diff.to.commit_message})` : ""),
    list("Images removed", diff.images_removed, "del"), list("Images added", diff.images_added, "add"),
    list("Objects removed", diff.objects_removed, "del"), list("Objects added", diff.objects_added, "add"),
    (diff.images_removed.length + diff.images_added.length + diff.objects_removed.length + diff.objects_added.length)
      ? null : h("p", { class: "muted" }, "Same images and objects: the settings in them differ."),
    h("p", { class: "muted" }, "The Sync is pinned to that revision until you choose “Follow Git again”."),
  ].filter(Boolean));
  const dialog = $("#confirm");
  dialog.returnValue = "";
  dialog.onclose = () => {
    if (dialog.returnValue === "ok") doAction("rollback", button, { record: rec.id });
    else button.focus();
  };
  dialog.showModal();
}
function sourceOf(d) {
  const src = d.source;
  if (!src) return h("p", { class: "muted" }, d.row.source + " (not found)");
  const a = d.source_artifact || {};
  return h("dl", {},
    h("dt", {}, "GitSource"), h("dd", {}, `${src.namespace}/${src.name} `, badge(src.state)),
    h("dt", {}, "URL"), h("dd", {}, h("code", {}, src.url)),
    h("dt", {}, "Revision"), h("dd", {}, h("code", {}, shortRev(src.revision)), " ", a.message || "", a.author ? " — " + a.author : ""),
    h("dt", {}, "Fetched"), h("dd", {}, when(a.lastUpdateTime)),
    src.message ? [h("dt", {}, "Message"), h("dd", { class: "msg" }, src.message)] : null);
}
async function loadTree(ns, name) {
  const box = $("#tree");
  try {
    const root = S.sync.tree || await api(`syncs/${enc(ns)}/${enc(name)}/tree`);
    S.sync.tree = root;
    box.replaceChildren(h("h2", {}, "Resources"), h("ul", { class: "tree" }, treeItems(root.children || [])));
  } catch (e) { box.replaceChildren(h("h2", {}, "Resources"), h("p", { class: "error" }, e.message)); }
}
function treeItems(nodes) {
  const out = [];
  let kind = null;
  for (const n of nodes) {
    if (n.kind !== kind) { kind = n.kind; out.push(h("li", { class: "kind-group" }, kind)); }
    out.push(h("li", { "data-object": `${n.kind}/${n.namespace}/${n.name}` }, badge(n.health), " ", n.name,
      n.namespace ? h("span", { class: "muted" }, " · " + n.namespace) : "",
      n.message ? h("span", { class: "sub" }, n.message) : "",
      n.children && n.children.length ? h("ul", {}, treeItems(n.children)) : ""));
  }
  return out;
}
async function loadEvents(ns, name) {
  const box = $("#events");
  try {
    const ev = S.sync.events || await api(`syncs/${enc(ns)}/${enc(name)}/events`);
    S.sync.events = ev;
    box.replaceChildren(h("h2", {}, "Events"), ev.items.length ? h("ul", {}, ev.items.slice(0, 20).map((e) =>
      h("li", {}, badge(e.type, e.type === "Warning" ? "failed" : "ready"), " ", e.reason, " ",
        h("span", { class: "muted" }, e.object.kind + "/" + e.object.name), h("span", { class: "sub" }, e.message),
        h("span", { class: "sub" }, when(e.lastSeen))))) : h("p", { class: "muted" }, "No Events."));
  } catch (e) { box.replaceChildren(h("h2", {}, "Events"), h("p", { class: "error" }, e.message)); }
}

// -- environments -------------------------------------------------------------------------
async function loadEnvironments() {
  let m, dora;
  try {
    [m, dora] = await Promise.all([api("environments"), api("dora?weeks=8")]);
  } catch (e) { return main(h("p", { class: "error" }, e.message)); }
  if (S.view !== "environments") return;
  if (!m.ledger) return main(h("h1", {}, "Environments"), h("p", { class: "muted" }, "The agent has no ledger open."));
  const table = h("table", { class: "matrix", id: "matrix" },
    h("caption", {}, "What runs where, since when"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Sync"), m.environments.map((e) => h("th", { scope: "col" }, e)))),
    h("tbody", {}, m.rows.map((row) => h("tr", {}, h("th", { scope: "row" }, row.sync, row.cluster ? h("span", { class: "sub" }, row.cluster) : null),
      m.environments.map((e) => {
        const c = row.cells[e];
        if (!c) return h("td", { class: "muted" }, "—");
        return h("td", {}, h("a", { href: `#/sync/${enc(c.namespace)}/${enc(c.sync)}` }, h("code", {}, shortRev(c.revision))),
          c.images.map((i) => h("span", { class: "sub mono" }, i)), h("span", { class: "sub" }, "since ", when(c.since)));
      })))));
  const charts = Object.entries(dora.environments || {}).map(([env, points]) => h("section", { class: "panel" },
    h("h2", {}, `DORA · ${env}`),
    h("div", { class: "charts" },
      chart("Deployments per day", points.map((p) => p.deploys_per_day), (v) => v.toFixed(2)),
      chart("Lead time, median (h)", points.map((p) => p.lead_time_median_seconds === null ? null : p.lead_time_median_seconds / 3600), (v) => v.toFixed(1)),
      chart("Change failure rate (%)", points.map((p) => p.change_failure_rate === null ? null : p.change_failure_rate * 100), (v) => v.toFixed(0)),
      chart("Time to restore, median (h)", points.map((p) => p.time_to_restore_median_seconds === null ? null : p.time_to_restore_median_seconds / 3600), (v) => v.toFixed(1)))));
  main(h("h1", {}, "Environments"), h("div", { class: "table-wrap" }, table),
    h("h2", {}, `DORA figures, last ${dora.weeks || 8} weeks`), charts.length ? charts : h("p", { class: "muted" }, "No deployments recorded."));
}
function chart(title, values, fmt) {
  const w = 240, hgt = 110, pad = 18, n = values.length || 1;
  const max = Math.max(...values.filter((v) => v !== null), 0) || 1;
  const bw = (w - pad * 2) / n;
  const bars = values.map((v, i) => {
    const bh = v === null ? 0 : ((hgt - pad * 2) * v) / max;
    return s("rect", { class: "bar", x: (pad + i * bw + 2).toFixed(1), y: (hgt - pad - bh).toFixed(1),
      width: Math.max(1, bw - 4).toFixed(1), height: bh.toFixed(1) },
      s("title", {}, `week ${i + 1 - n} : ${v === null ? "no data" : fmt(v)}`));
  });
  const last = [...values].reverse().find((v) => v !== null);
  if (last === undefined) bars.push(s("text", { x: w / 2, y: hgt / 2, "text-anchor": "middle" }, "no data"));
  const svg = s("svg", { viewBox: `0 0 ${w} ${hgt}`, role: "img", "aria-label": `${title}, latest ${last === undefined ? "no data" : fmt(last)}` },
    s("line", { class: "axis", x1: pad, y1: hgt - pad, x2: w - pad, y2: hgt - pad }),
    ...bars,
    s("text", { x: pad, y: 12 }, `max ${fmt(max)}`),
    s("text", { x: w - pad, y: hgt - 4, "text-anchor": "end" }, "this week"));
  return h("figure", { class: "chart" }, h("figcaption", {}, title), svg);
}

document.addEventListener("DOMContentLoaded", start);
