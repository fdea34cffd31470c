// The dashboard of apijongler serve: reads GET /admin/dashboard every
// second with the token as a Bearer header, and sends the key actions as
// POST JSON. The token lives in this tab's sessionStorage only.
"use strict";

(function () {
  const STORE = "apijongler.token";
  const POLL_MS = 1000;
  const $ = (sel, root) => (root || document).querySelector(sel);

  const login = $("#login");
  const board = $("#board");
  const live = $("#live");
  const updated = $("#updated");
  const logout = $("#logout");
  const announce = $("#announce");
  const conns = $("#connectors");

  let timer = 0;
  let skew = 0; // server clock minus ours, in ms
  let uid = 0;

  function token() { return sessionStorage.getItem(STORE) || ""; }

  function showLogin(message) {
    clearTimeout(timer);
    sessionStorage.removeItem(STORE);
    conns.replaceChildren();
    board.hidden = true;
    live.hidden = true;
    logout.hidden = true;
    login.hidden = false;
    $("#login-error").textContent = message || "";
    $("#token").value = "";
    $("#token").focus();
  }

  function showBoard() {
    login.hidden = true;
    board.hidden = false;
    live.hidden = false;
    logout.hidden = false;
  }

  async function api(method, path, body) {
    const opts = { method, headers: { "Authorization": "Bearer " + token() }, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const resp = await fetch(path, opts);
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (resp.status === 401) {
      showLogin("That token was refused.");
      throw new Error("unauthorized");
    }
    if (!resp.ok) {
      throw new Error((data && data.error) || ("HTTP " + resp.status));
    }
    return data;
  }

  async function poll() {
    clearTimeout(timer);
    try {
      const data = await api("GET", "/admin/dashboard");
      showBoard();
      render(data);
      live.classList.remove("stale");
    } catch (e) {
      if (e.message === "unauthorized") return;
      live.classList.add("stale");
      updated.textContent = "not updated: " + e.message;
    }
    timer = setTimeout(poll, POLL_MS);
  }

  function keyPart(s) { return String(s).replace(/[^A-Za-z0-9_.-]/g, "_"); }

  function render(data) {
    skew = Date.parse(data.now) - Date.now();
    updated.textContent = "live, updated " + new Date().toLocaleTimeString();
    const seen = new Set();
    for (const c of data.connectors) {
      seen.add(c.name);
      let sec = conns.querySelector(`section[data-connector="${CSS.escape(c.name)}"]`);
      if (!sec) {
        sec = $("#connector-tpl").content.firstElementChild.cloneNode(true);
        sec.dataset.connector = c.name;
        const h = $(".conn-name", sec);
        h.id = "conn-" + keyPart(c.name) + "-" + (++uid);
        h.textContent = c.name;
        sec.setAttribute("aria-labelledby", h.id);
        conns.append(sec);
      }
      renderConnector(sec, c);
    }
    for (const sec of conns.querySelectorAll("section[data-connector]")) {
      if (!seen.has(sec.dataset.connector)) sec.remove();
    }
    const routes = data.routes || [];
    $("#routes").hidden = routes.length === 0;
    $("#route-list").replaceChildren(...routes.map((r) => {
      const li = document.createElement("li");
      li.dataset.route = r.name;
      li.dataset.target = r.target;
      li.textContent = r.name + " \u2192 " + (r.target || "no target has room now");
      return li;
    }));
    const clients = data.clients || [];
    $("#clients").hidden = clients.length === 0;
    $("#client-list").replaceChildren(...clients.map((c) => {
      const li = document.createElement("li");
      li.dataset.client = c.name;
      const parts = [`${c.this_minute}${c.per_minute ? "/" + c.per_minute : ""} this minute`,
        `${c.today}${c.per_day ? "/" + c.per_day : ""} today`];
      if (c.limited) parts.push(`${c.limited} refused over its limits`);
      li.textContent = `${c.name}: ${parts.join(", ")}`;
      return li;
    }));
    tick();
  }

  function renderConnector(sec, c) {
    const ready = c.keys.filter((k) => k.state === "VACANT").length;
    $(".conn-summary", sec).textContent = `${c.keys.length} key${c.keys.length === 1 ? "" : "s"}, ${ready} ready`;
    $(".n-req", sec).textContent = c.hour.requests;
    $(".n-abs", sec).textContent = c.hour.absorbed_429;
    $(".n-pass", sec).textContent = c.hour.passed_429;
    drawChart($(".chart", sec), c);
    const list = $(".keys", sec);
    const seen = new Set();
    for (const k of c.keys) {
      seen.add(k.key);
      let li = list.querySelector(`li[data-key="${CSS.escape(k.key)}"]`);
      if (!li) {
        li = newKey(c.name, k.key);
        list.append(li);
      }
      renderKey(li, k);
    }
    for (const li of list.querySelectorAll("li[data-key]")) {
      if (!seen.has(li.dataset.key)) li.remove();
    }
    const budgets = c.budgets || [];
    $(".budgets", sec).hidden = budgets.length === 0;
    $(".budget-list", sec).replaceChildren(...budgets.map((b) => {
      const li = document.createElement("li");
      const parts = [];
      if (b.per_minute) parts.push(`${b.used_minute}/${b.per_minute} this minute`);
      if (b.per_day) parts.push(`${b.used_day}/${b.per_day} today`);
      li.textContent = `${b.project || "(no project)"} ${b.model}: ${parts.join(", ")}`;
      return li;
    }));
    const quotas = c.quotas || [];
    $(".quotas", sec).hidden = quotas.length === 0;
    $(".quota-list", sec).replaceChildren(...quotas.map((q) => {
      const li = document.createElement("li");
      li.textContent = `${q.project || "(no project)"} ${q.model}: ${q.limit} per ${q.window}, learned from ${q.from || "the upstream"}`;
      return li;
    }));
  }

  function newKey(connector, name) {
    const li = $("#key-tpl").content.firstElementChild.cloneNode(true);
    li.dataset.key = name;
    li.dataset.connector = connector;
    const h = $(".key-name", li);
    h.id = "key-" + keyPart(connector) + "-" + keyPart(name) + "-" + (++uid);
    h.textContent = name;
    li.setAttribute("aria-labelledby", h.id);
    const sel = $(".hold-for", li);
    sel.id = h.id + "-for";
    const lab = $("label", li);
    lab.htmlFor = sel.id;
    lab.textContent = `Disable ${name} for`;
    $('[data-action="reset"]', li).setAttribute("aria-label", `Reset ${name}`);
    $('[data-action="disable"]', li).setAttribute("aria-label", `Disable ${name}`);
    $('[data-action="enable"]', li).setAttribute("aria-label", `Enable ${name}`);
    li.addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-action]");
      if (b) act(b.dataset.action, connector, name, sel.value, b);
    });
    return li;
  }

  function renderKey(li, k) {
    li.dataset.state = k.state;
    $(".badge", li).textContent = k.state;
    let reason = k.reason || "";
    if (k.model) reason += (reason ? " " : "") + `(model ${k.model})`;
    $(".reason", li).textContent = reason;
    const cd = $(".countdown", li);
    if (k.state === "LOCKDOWN" && k.until) {
      cd.dataset.until = k.until;
    } else {
      delete cd.dataset.until;
      cd.textContent = k.state === "ERROR" ? "until reset" : "";
    }
    $(".inflight", li).textContent = k.in_flight > 0 ? `${k.in_flight} in flight` : "";
    const held = k.state === "LOCKDOWN" && /^disabled for maintenance/.test(k.reason || "");
    $('[data-action="enable"]', li).hidden = !held;
    $('[data-action="disable"]', li).hidden = held;
  }

  // tick refreshes every countdown from its end time.
  function tick() {
    const now = Date.now() + skew;
    for (const cd of conns.querySelectorAll(".countdown[data-until]")) {
      const until = Date.parse(cd.dataset.until);
      cd.textContent = countdown(until - now, until);
    }
  }

  function countdown(ms, until) {
    const s = Math.max(0, Math.ceil(ms / 1000));
    if (s < 60) return `back in ${s}s`;
    if (s < 3600) return `back in ${Math.floor(s / 60)}m ${s % 60}s`;
    const d = new Date(until);
    return "back at " + d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) +
      (s >= 86400 ? " " + d.toLocaleDateString() : "");
  }

  function drawChart(svg, c) {
    const NS = "http://www.w3.org/2000/svg";
    const mins = c.minutes || [];
    const top = Math.max(1, ...mins.map((m) => m.requests + m.absorbed_429));
    const w = 300 / Math.max(1, mins.length);
    const parts = [];
    mins.forEach((m, i) => {
      const bar = (cls, value, base) => {
        if (value <= 0) return;
        const r = document.createElementNS(NS, "rect");
        const h = (value / top) * 58;
        r.setAttribute("class", cls);
        r.setAttribute("x", (i * w + 0.5).toFixed(2));
        r.setAttribute("width", Math.max(0.5, w - 1).toFixed(2));
        r.setAttribute("y", (60 - base - h).toFixed(2));
        r.setAttribute("height", h.toFixed(2));
        parts.push(r);
        return h;
      };
      const hReq = bar("req", m.requests - m.passed_429, 0) || 0;
      const hPass = bar("pass", m.passed_429, hReq) || 0;
      bar("abs", m.absorbed_429, hReq + hPass);
    });
    const title = document.createElementNS(NS, "title");
    title.textContent = `${c.name}, the last hour a minute a bar: ${c.hour.requests} requests, ` +
      `${c.hour.absorbed_429} 429s absorbed, ${c.hour.passed_429} 429s passed on`;
    svg.setAttribute("aria-label", title.textContent);
    svg.replaceChildren(title, ...parts);
  }

  async function act(action, connector, key, holdFor, button) {
    if (action === "reset" && !window.confirm(`Reset ${key} of ${connector}? Its cooldown or refusal is cleared in every process.`)) {
      return;
    }
    const body = { connector, key };
    if (action === "disable") body.for = holdFor;
    button.disabled = true;
    try {
      const res = await api("POST", "/admin/keys/" + action, body);
      announce.textContent = `${key}: ${action} done, now ${res.state}.`;
      await poll();
    } catch (e) {
      if (e.message !== "unauthorized") announce.textContent = `${key}: ${action} failed: ${e.message}`;
    } finally {
      button.disabled = false;
    }
  }

  login.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("#token").value.trim();
    if (!t) return;
    sessionStorage.setItem(STORE, t);
    $("#token").value = "";
    poll();
  });
  logout.addEventListener("click", () => showLogin(""));
  setInterval(tick, 250);

  if (token()) poll(); else showLogin("");
})();
