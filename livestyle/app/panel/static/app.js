// livestyle control panel: talks to the JSON API of the same origin (the token is an HttpOnly cookie).
"use strict";

const EFFECTS = ["style", "blur", "replace", "cartoon", "pencil", "oil", "watercolor", "color", "none"];
const $ = (id) => document.getElementById(id);
const state = { status: null, stylesVersion: null, styles: [], strengthBusy: false, blurBusy: false, addFile: null, wantReplace: false };

// ---------------------------------------------------------------- helpers
function toast(text, error = false) {
  const el = document.createElement("div");
  el.className = "toast" + (error ? " error" : "");
  el.textContent = text;
  $("toasts").appendChild(el);
  setTimeout(() => el.remove(), error ? 6000 : 3500);
}

async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  let res;
  try { res = await fetch(path, init); } catch (e) { toast("the livestyle session does not answer", true); throw e; }
  const data = (res.headers.get("content-type") || "").includes("json") ? await res.json() : null;
  if (!res.ok) {
    const msg = (data && data.error) || `${res.status} ${res.statusText}`;
    toast(msg, true);
    throw new Error(msg);
  }
  return data;
}

function debounce(fn, ms) {
  let t = null;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

function fill(range) {
  const min = +range.min, max = +range.max;
  range.style.setProperty("--fill", `${((range.value - min) / (max - min)) * 100}%`);
}

const fmt = (v, d = 0) => (v === undefined || v === null || Number.isNaN(v) ? "–" : Number(v).toFixed(d));

// ---------------------------------------------------------------- status
function applyStatus(s) {
  state.status = s;
  $("fig-fps").textContent = fmt(s.fps, 1);
  $("fig-latency").textContent = fmt(s.latency_p95_ms);
  $("fig-cpu").textContent = fmt(s.cpu_percent);
  $("fig-restyles").textContent = fmt(s.restyles_per_s, 1);
  $("fig-fps").classList.toggle("warn", s.fps > 0 && s.fps < 24);
  $("live").className = "live on";
  $("live-text").textContent = `live · ${s.width || "?"}×${s.height || "?"}`;
  $("now-effect").textContent = s.effect === "style" ? "style" : s.effect;
  $("now-style").textContent = s.effect === "style" ? s.style : "";
  for (const chip of document.querySelectorAll(".chip")) chip.setAttribute("aria-checked", String(chip.dataset.name === s.effect));
  $("setting-blur").hidden = s.effect !== "blur";
  $("setting-replace").hidden = s.effect !== "replace" && !state.wantReplace;
  if (!state.blurBusy && s.blur_strength !== undefined) { $("blur").value = s.blur_strength; $("blur-out").textContent = `${Math.round(s.blur_strength * 100)}%`; fill($("blur")); }
  if (!state.strengthBusy) { $("strength").value = s.strength; $("strength-out").textContent = `${Math.round(s.strength * 100)}%`; fill($("strength")); }
  $("strength-box").classList.toggle("disabled", s.effect !== "style");
  $("btn-mirror").setAttribute("aria-pressed", String(!!s.mirror));
  $("btn-mask").setAttribute("aria-pressed", String(!!s.mask_view));
  for (const t of document.querySelectorAll(".thumb")) t.setAttribute("aria-selected", String(s.effect === "style" && t.dataset.name === s.style));
  if (s.styles_version !== state.stylesVersion) loadStyles();
}

async function poll() {
  try { applyStatus(await (await fetch("/api/status", { credentials: "same-origin" })).json()); }
  catch (e) { $("live").className = "live off"; $("live-text").textContent = "disconnected"; }
  setTimeout(poll, 1000);
}

// ---------------------------------------------------------------- styles
async function loadStyles() {
  const data = await api("GET", "/api/styles");
  state.stylesVersion = data.version;
  state.styles = data.styles;
  const gallery = $("gallery");
  gallery.replaceChildren();
  for (const st of data.styles) {
    const b = document.createElement("button");
    b.className = "thumb";
    b.type = "button";
    b.dataset.name = st.name;
    b.setAttribute("role", "option");
    b.title = st.kind === "user" ? `${st.name} (your style)` : st.name;
    const img = document.createElement("img");
    img.loading = "lazy";
    img.alt = "";
    img.src = `/api/thumbnail/${encodeURIComponent(st.name)}?v=${data.version}`;
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = st.name.replace(/_/g, " ");
    b.append(img, label);
    if (st.kind === "user") {
      const tag = document.createElement("span");
      tag.className = "user";
      tag.textContent = "yours";
      const rm = document.createElement("button");
      rm.type = "button";
      rm.className = "remove";
      rm.title = `remove ${st.name}`;
      rm.innerHTML = '<svg viewBox="0 0 24 24"><path d="M6 6l12 12M18 6 6 18"/></svg>';
      rm.addEventListener("click", (ev) => { ev.stopPropagation(); removeStyle(st.name); });
      b.append(tag, rm);
    }
    b.addEventListener("click", () => selectStyle(st.name, b));
    gallery.appendChild(b);
  }
  $("style-count").textContent = data.styles.length;
  if (state.status) for (const t of gallery.children) t.setAttribute("aria-selected", String(state.status.effect === "style" && t.dataset.name === state.status.style));
}

async function selectStyle(name, el) {
  el.classList.add("busy");
  try { applyStatus(await api("POST", "/api/style", { name })); } catch (e) { /* toast shown */ }
  el.classList.remove("busy");
}

async function removeStyle(name) {
  if (!confirm(`Remove the style "${name}"?`)) return;
  try { await api("DELETE", `/api/styles/${encodeURIComponent(name)}`); toast(`removed ${name}`); loadStyles(); } catch (e) { /* toast shown */ }
}

// ---------------------------------------------------------------- add a style
function suggestName(file) {
  let n = file.name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_-]+/g, "_").replace(/^[^A-Za-z0-9]+/, "").slice(0, 40);
  return n || "my_style";
}

function chooseStyleFile(file) {
  if (!file) return;
  if (!file.type.startsWith("image/")) { toast(`${file.name} is not an image`, true); return; }
  state.addFile = file;
  const img = $("add-thumb");
  img.src = URL.createObjectURL(file);
  img.hidden = false;
  $("add-icon").style.display = "none";
  $("add-hint").textContent = file.name;
  if (!$("style-name").value) $("style-name").value = suggestName(file);
  $("add-btn").disabled = false;
  $("style-name").focus();
}

async function addStyle(ev) {
  ev.preventDefault();
  const name = $("style-name").value.trim();
  if (!state.addFile || !name) return;
  const form = new FormData();
  form.append("name", name);
  form.append("image", state.addFile);
  $("add-btn").disabled = true;
  $("add-btn").textContent = "Adding…";
  try {
    await api("POST", "/api/styles", form);
    toast(`added ${name}`);
    state.addFile = null;
    $("add-form").reset();
    $("add-thumb").hidden = true;
    $("add-icon").style.display = "";
    $("add-hint").innerHTML = "Drop a painting here or <u>choose a file</u>";
    await loadStyles();
    const el = document.querySelector(`.thumb[data-name="${CSS.escape(name)}"]`);
    if (el) { el.scrollIntoView({ block: "nearest" }); selectStyle(name, el); }
  } catch (e) { /* toast shown */ }
  $("add-btn").textContent = "Add style";
  $("add-btn").disabled = !state.addFile;
}

function dropZone(zone, input, onFile) {
  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
  input.addEventListener("change", () => onFile(input.files[0]));
  for (const t of ["dragenter", "dragover"]) zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); });
  for (const t of ["dragleave", "drop"]) zone.addEventListener(t, () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); onFile(e.dataTransfer.files[0]); });
}

// ---------------------------------------------------------------- effects and tools
function buildEffects() {
  for (const name of EFFECTS) {
    const c = document.createElement("button");
    c.type = "button";
    c.className = "chip";
    c.dataset.name = name;
    c.setAttribute("role", "radio");
    c.textContent = name;
    c.addEventListener("click", async () => {
      if (name === "replace" && state.status && state.status.effect !== "replace" && !state.status.has_background) {
        state.wantReplace = true;
        $("setting-replace").hidden = false;
        $("bg-drop").focus();
        toast("choose a background image for replace");
        return;
      }
      state.wantReplace = false;
      try { applyStatus(await api("POST", "/api/effect", { name })); } catch (e) { /* toast shown */ }
    });
    $("effects").appendChild(c);
  }
}

async function uploadBackground(file) {
  if (!file) return;
  const form = new FormData();
  form.append("image", file);
  try { state.wantReplace = false; applyStatus(await api("POST", "/api/background", form)); toast("background set"); } catch (e) { /* toast shown */ }
}

// a slider that shows its value at once and sends it (debounced) with body(value)
function slider(id, busyKey, path, body) {
  const range = $(id);
  const send = debounce(async () => {
    try { applyStatus(await api("POST", path, body(+range.value))); } catch (e) { /* toast shown */ }
    state[busyKey] = false;
  }, 120);
  range.addEventListener("input", () => {
    state[busyKey] = true;
    $(`${id}-out`).textContent = `${Math.round(range.value * 100)}%`;
    fill(range);
    send();
  });
}

function setupSliders() {
  slider("strength", "strengthBusy", "/api/strength", (value) => ({ value }));
  slider("blur", "blurBusy", "/api/effect", (value) => ({ name: "blur", blur_strength: value }));
}

function setupTools() {
  $("btn-mirror").addEventListener("click", async () => {
    try { applyStatus(await api("POST", "/api/mirror", { value: !(state.status && state.status.mirror) })); } catch (e) { /* toast */ }
  });
  $("btn-mask").addEventListener("click", async () => {
    try { applyStatus(await api("POST", "/api/mask", { value: !(state.status && state.status.mask_view) })); } catch (e) { /* toast */ }
  });
  $("btn-snapshot").addEventListener("click", async () => {
    try { const r = await api("POST", "/api/snapshot"); toast(`snapshot saved: ${r.path}`); } catch (e) { /* toast */ }
  });
}

function setupPreview() {
  const img = $("preview");
  const wrap = $("preview-wrap");
  img.addEventListener("load", () => wrap.classList.add("has-frame"));
  img.addEventListener("error", () => {
    wrap.classList.remove("has-frame");
    setTimeout(() => { img.src = `${img.dataset.src}?t=${Date.now()}`; }, 1500);
  });
  img.src = img.dataset.src;
}

function setupKeys() {
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" || e.ctrlKey || e.metaKey || e.altKey) return;
    const thumbs = [...document.querySelectorAll(".thumb")];
    const i = thumbs.findIndex((t) => t.getAttribute("aria-selected") === "true");
    if ((e.key === "n" || e.key === "p") && thumbs.length) {
      const next = thumbs[(i + (e.key === "n" ? 1 : thumbs.length - 1)) % thumbs.length];
      selectStyle(next.dataset.name, next);
    } else if (e.key === "m") $("btn-mask").click();
    else if (e.key === "s") $("btn-snapshot").click();
  });
}

buildEffects();
setupSliders();
setupTools();
setupPreview();
setupKeys();
dropZone($("style-drop"), $("style-file"), chooseStyleFile);
dropZone($("bg-drop"), $("bg-file"), uploadBackground);
$("style-name").addEventListener("input", () => { $("add-btn").disabled = !state.addFile || !$("style-name").value.trim(); });
$("add-form").addEventListener("submit", addStyle);
poll();
