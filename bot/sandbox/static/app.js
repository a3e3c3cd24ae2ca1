/* The sandbox playground: Telegram-like chats with the bot, one per simulated person.
   Talks only to the sandbox on the same origin: the control API (/sandbox/…, bot.sandbox.control)
   and the playground routes (bot.sandbox.playground). No build step, no external assets. */
"use strict";

// ---- the page's own texts (the bot's texts come from the bot, in each user's language) ----------
const I18N = {
  zh: {
    title: "专家库沙盒", subtitle: "本地 Telegram 替身 · 演示数据", clockLabel: "沙盒时间",
    plusHour: "+1 小时", plusDay: "+1 天", goTo: "前往", search: "搜索姓名、单位…",
    welcomeTitle: "选择一个身份开始聊天",
    welcomeText: "左侧每一行都是一个模拟的 Telegram 用户。可以同时打开几个聊天：例如以使用单位身份申请专家组，再以被邀请的专家身份逐一答复。",
    welcomeClock: "顶部的时钟可以让时间前进，用来观察回复期限、会前提醒、评价提示和任期到期提醒。",
    menu: "菜单", attach: "发送图片或文件", message: "输入消息…", send: "发送", start: "开始",
    groupBureau: "生态环境局", groupUnits: "使用单位", groupExperts: "专家", groupNew: "新用户",
    role_admin: "管理员", role_supervisor: "监督", role_contact: "单位联系人", role_expert: "专家",
    newUser: "新用户", newUserHint: "从未与机器人对话过", noRole: "尚无身份（未绑定、未入库）", termTo: "任期至", edited: "已编辑",
    typing: "正在输入…", noCommands: "没有可用的命令", download: "下载", photo: "图片",
    clockMoved: "时间已前进到 {time}", tickDid: "调度器：{items}", tickNothing: "调度器：没有到期的事项",
    clockFailed: "无法调整时钟：{reason}", sendFailed: "发送失败：{reason}", offline: "与沙盒的连接中断，正在重试…",
    reconnected: "沙盒已重新启动，聊天已重新载入。", ok: "确定", close: "关闭",
    rule_expire_invitations: "邀请过期", rule_complete_panels: "会议结束", rule_nudge_invitations: "回复提醒",
    rule_meeting_reminders: "会前提醒", rule_evaluation_prompts: "评价提示", rule_term_notices: "任期提醒",
    rule_expire_terms: "任期届满", rule_regulation_warnings: "办法有效期提醒", rule_daily_digest: "每日摘要",
  },
  en: {
    title: "Expert database sandbox", subtitle: "local Telegram stand-in · demo data", clockLabel: "Sandbox time",
    plusHour: "+1 hour", plusDay: "+1 day", goTo: "Go", search: "Search names, units…",
    welcomeTitle: "Pick someone to chat as",
    welcomeText: "Each row on the left is a simulated Telegram user. Open several chats side by side: request a panel as a using unit, then answer as each invited expert.",
    welcomeClock: "The clock at the top moves time forward, so deadlines, meeting reminders, evaluation prompts and term-expiry notices fire.",
    menu: "Menu", attach: "Send a photo or a file", message: "Message…", send: "Send", start: "START",
    groupBureau: "Bureau", groupUnits: "Using units", groupExperts: "Experts", groupNew: "New users",
    role_admin: "Admin", role_supervisor: "Supervisor", role_contact: "Unit contact", role_expert: "Expert",
    newUser: "A new user", newUserHint: "has never talked to the bot", noRole: "no role yet (not bound, not enrolled)", termTo: "term to", edited: "edited",
    typing: "typing…", noCommands: "No commands", download: "Download", photo: "Photo",
    clockMoved: "Time moved to {time}", tickDid: "Scheduler: {items}", tickNothing: "Scheduler: nothing due",
    clockFailed: "Could not move the clock: {reason}", sendFailed: "Not sent: {reason}", offline: "Lost the sandbox; retrying…",
    reconnected: "The sandbox restarted; chats reloaded.", ok: "OK", close: "Close",
    rule_expire_invitations: "invitations expired", rule_complete_panels: "meetings ended",
    rule_nudge_invitations: "answer reminders", rule_meeting_reminders: "meeting reminders",
    rule_evaluation_prompts: "evaluation prompts", rule_term_notices: "term notices", rule_expire_terms: "terms ended",
    rule_regulation_warnings: "regulation notices", rule_daily_digest: "daily digest",
  },
};

const state = {
  lang: "zh",
  tz: "Asia/Shanghai",
  personas: [],
  byId: new Map(),
  panes: new Map(),     // chat id → Pane
  unread: new Map(),    // chat id → count
  last: new Map(),      // chat id → last message view
  cursor: 0,
  clockOffset: 0,       // seconds the sandbox clock is ahead of real time
  online: true,
};
state.lang = localStorage.getItem("ep.lang") || "zh";  // the bureau's language first; EN is one click away

function tr(key, params) {
  let s = (I18N[state.lang] && I18N[state.lang][key]) || I18N.zh[key] || key;
  for (const [k, v] of Object.entries(params || {})) s = s.replaceAll("{" + k + "}", String(v));
  return s;
}

// ---- helpers -----------------------------------------------------------------------------------
async function api(path, options) {
  const resp = await fetch(path, options);
  let body;
  try { body = await resp.json(); } catch { throw new Error(resp.status + " " + resp.statusText); }
  if (!body.ok) throw new Error(body.description || resp.statusText);
  return body.result;
}
const postJSON = (path, data) => api(path, {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data),
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function parts(date) {
  const f = new Intl.DateTimeFormat("en-CA", {
    timeZone: state.tz, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", weekday: "short", hourCycle: "h23",
  });
  const p = {};
  for (const { type, value } of f.formatToParts(date)) p[type] = value;
  return p;
}
function fmtClock(date) {
  const p = parts(date);
  const wd = new Intl.DateTimeFormat(state.lang === "en" ? "en-GB" : "zh-CN", { timeZone: state.tz, weekday: "short" }).format(date);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} ${wd}`;
}
function fmtStamp(unixSeconds) {
  const p = parts(new Date(unixSeconds * 1000));
  return `${p.month}-${p.day} ${p.hour}:${p.minute}`;
}
function fmtSize(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
  return (n / 1024 / 1024).toFixed(1) + " MB";
}
const COLORS = ["#e17076", "#7bc862", "#65aadd", "#a695e7", "#ee7aae", "#6ec9cb", "#faa774", "#5caffa"];
function avatar(node, persona) {
  const name = persona.name || tr("newUser");
  node.textContent = [...name][0] || "?";
  node.style.background = COLORS[persona.telegram_id % COLORS.length];
}
function personaName(p) { return p.name || tr("newUser"); }
function personaMeta(p) {
  if (!p.roles.length) return tr(p.known ? "noRole" : "newUserHint") + " · " + p.telegram_id;
  const roles = p.roles.map((r) => tr("role_" + r)).join(" · ");
  const bits = [roles];
  if (p.unit) bits.push(p.unit);
  if (p.title) bits.push(p.title);
  if (p.term_end) bits.push(tr("termTo") + " " + p.term_end);
  return bits.join(" · ");
}

function toast(text, kind, where) {
  const box = where || document.getElementById("toasts");
  const node = el("div", { class: "toast " + (kind || ""), role: "status", text });
  box.append(node);
  setTimeout(() => node.classList.add("fade"), kind === "error" ? 5500 : 3500);
  setTimeout(() => node.remove(), kind === "error" ? 6000 : 4000);
}

function docIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "22");
  svg.setAttribute("height", "22");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("fill", "#fff");
  path.setAttribute("d", "M6 2h8l6 6v12a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2zm7 1.5V9h5.5L13 3.5zM8 13v1.6h8V13H8zm0 3.4V18h6v-1.6H8z");
  svg.append(path);
  return el("span", { class: "doc-icon" }, svg);
}

// ---- message text: Bot API entities → DOM (never innerHTML) --------------------------------------
function safeHref(url) {
  return /^(https?:|mailto:|tg:)/i.test(url || "") ? url : null;
}
function entityNode(e, slice, pane) {
  switch (e.type) {
    case "bold": return el("b");
    case "italic": return el("i");
    case "underline": return el("u");
    case "strikethrough": return el("s");
    case "spoiler": return el("span", { class: "spoiler", onclick: (ev) => ev.currentTarget.classList.add("shown") });
    case "code": return el("code");
    case "pre": return el("pre", { class: "pre" });
    case "blockquote": case "expandable_blockquote": return el("blockquote");
    case "text_link": return el("a", { href: safeHref(e.url), target: "_blank", rel: "noopener" });
    case "url": return el("a", { href: safeHref(/^[a-z]+:/i.test(slice) ? slice : "https://" + slice), target: "_blank", rel: "noopener" });
    case "email": return el("a", { href: "mailto:" + slice });
    case "bot_command":
      return el("a", { class: "cmd", href: "#", onclick: (ev) => { ev.preventDefault(); pane && pane.sendText(slice.split("@")[0]); } });
    default: return el("span", { class: "ent-" + e.type });
  }
}
function renderText(text, entities, pane) {
  const root = document.createDocumentFragment();
  const list = (entities || []).slice().sort((a, b) => a.offset - b.offset || b.length - a.length);
  (function build(parent, start, end, ents) {
    let pos = start, i = 0;
    while (i < ents.length) {
      const e = ents[i];
      if (e.offset < pos) { i++; continue; }
      if (e.offset > pos) parent.append(text.slice(pos, e.offset));
      const stop = Math.min(e.offset + e.length, end);
      const inner = [];
      let j = i + 1;
      while (j < ents.length && ents[j].offset < stop) {
        if (ents[j].offset + ents[j].length <= stop) inner.push(ents[j]);
        j++;
      }
      const node = entityNode(e, text.slice(e.offset, stop), pane);
      build(node, e.offset, stop, inner);
      parent.append(node);
      pos = stop; i = j;
    }
    if (pos < end) parent.append(text.slice(pos, end));
  })(root, 0, text.length, list);
  return root;
}

// ---- personas list -------------------------------------------------------------------------------
const GROUPS = [
  ["groupBureau", (p) => p.roles.includes("admin") || p.roles.includes("supervisor")],
  ["groupUnits", (p) => p.roles.includes("contact")],
  ["groupExperts", (p) => p.roles.includes("expert")],
  ["groupNew", (p) => !p.roles.length],
];
function preview(view) {
  if (!view) return "";
  if (view.photo) return "[" + tr("photo") + "] " + (view.caption || "");
  if (view.document) return "[" + (view.document.file_name || "file") + "]";
  return (view.text || view.caption || "").split("\n")[0];
}
function renderPersonas() {
  const nav = document.getElementById("personas");
  const q = document.getElementById("persona-search").value.trim().toLowerCase();
  nav.replaceChildren();
  const placed = new Set();
  for (const [label, test] of GROUPS) {
    const members = state.personas.filter((p) => !placed.has(p.telegram_id) && test(p));
    members.forEach((p) => placed.add(p.telegram_id));
    const shown = members.filter((p) => !q || (personaName(p) + " " + personaMeta(p) + " " + p.telegram_id).toLowerCase().includes(q));
    if (!shown.length) continue;
    nav.append(el("h3", { class: "group", text: `${tr(label)} (${shown.length})` }));
    for (const p of shown) {
      const unread = state.unread.get(p.telegram_id) || 0;
      const row = el("button", {
        type: "button", class: "persona" + (state.panes.has(p.telegram_id) ? " open" : ""),
        "data-persona": p.telegram_id, "data-roles": p.roles.join(" ") || "new",
        onclick: () => openPane(p.telegram_id),
      },
      el("span", { class: "avatar" }),
      el("span", { class: "who" },
        el("span", { class: "name", text: personaName(p) }),
        el("span", { class: "meta", text: preview(state.last.get(p.telegram_id)) || personaMeta(p) })),
      unread ? el("span", { class: "badge", "data-testid": "unread", text: String(unread) }) : null);
      avatar(row.querySelector(".avatar"), p);
      row.title = personaMeta(p);
      nav.append(row);
    }
  }
}

// ---- a chat pane -----------------------------------------------------------------------------------
class Pane {
  constructor(persona) {
    this.p = persona;
    this.id = persona.telegram_id;
    this.node = document.getElementById("pane-template").content.firstElementChild.cloneNode(true);
    this.node.dataset.chat = this.id;
    this.list = this.node.querySelector(".messages");
    this.input = this.node.querySelector(".input");
    this.menu = this.node.querySelector(".menu-popup");
    this.startBtn = this.node.querySelector(".start-btn");
    this.composer = this.node.querySelector(".composer");
    this.count = 0;
    this.header();
    this.node.querySelector(".close").addEventListener("click", () => closePane(this.id));
    this.node.querySelector(".send").addEventListener("click", () => this.submit());
    this.node.querySelector(".menu-btn").addEventListener("click", () => this.toggleMenu());
    this.startBtn.addEventListener("click", () => this.sendText("/start"));
    this.node.querySelector("input[type=file]").addEventListener("change", (ev) => this.upload(ev.target));
    this.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); this.submit(); }
      if (ev.key === "Escape") this.menu.hidden = true;
    });
    this.input.addEventListener("input", () => this.onInput());
    applyTexts(this.node);
  }

  header() {
    avatar(this.node.querySelector(".pane-head .avatar"), this.p);
    this.node.querySelector(".pane-head .name").textContent = personaName(this.p);
    this.node.querySelector(".pane-head .meta").textContent = personaMeta(this.p);
  }

  async load() {
    const views = await api(`/sandbox/chats/${this.id}/messages`);
    this.list.replaceChildren();
    this.count = 0;
    for (const v of views) this.upsert(v, false);
    this.updateStart();
    this.scroll(true);
  }

  updateStart() {
    const fresh = this.count === 0;
    this.startBtn.hidden = !fresh;
    this.composer.hidden = fresh;
  }

  atBottom() {
    const l = this.list;
    return l.scrollHeight - l.scrollTop - l.clientHeight < 80;
  }

  scroll(force) {
    if (force) this.list.scrollTop = this.list.scrollHeight;
  }

  upsert(view, scroll = true) {
    const follow = this.atBottom();  // like Telegram: keep following only if the reader was at the end
    const node = this.messageNode(view);
    const old = this.list.querySelector(`[data-message-id="${view.message_id}"]`);
    if (old) {
      old.replaceWith(node);
      node.classList.add("flash");
    } else {
      this.list.append(node);
      this.count++;
    }
    this.updateStart();
    if (scroll) this.scroll(follow || (!old && view.from === "user"));
  }

  remove(messageId) {
    const old = this.list.querySelector(`[data-message-id="${messageId}"]`);
    if (old) { old.remove(); this.count--; }
  }

  messageNode(v) {
    const bubble = el("div", { class: "bubble" });
    if (v.reply_to_message_id) {
      const quoted = this.list.querySelector(`[data-message-id="${v.reply_to_message_id}"] .text`);
      bubble.append(el("div", { class: "quote", text: quoted ? quoted.textContent.slice(0, 80) : "…" }));
    }
    if (v.photo) {
      bubble.append(el("a", { href: v.photo.url, target: "_blank", class: "photo" },
        el("img", { src: v.photo.url, alt: tr("photo"), loading: "lazy" })));
    }
    if (v.document) {
      const d = v.document;
      bubble.append(el("a", { class: "doc", href: d.url, download: d.file_name || "file", "data-testid": "document" },
        docIcon(),
        el("span", { class: "doc-info" },
          el("span", { class: "doc-name", text: d.file_name || "file" }),
          el("span", { class: "doc-size", text: `${fmtSize(d.file_size)} · ${tr("download")}` }))));
    }
    const body = v.text !== null && v.text !== undefined ? [v.text, v.entities] : [v.caption || "", v.caption_entities];
    if (body[0]) bubble.append(el("div", { class: "text" }, renderText(body[0], body[1], this)));
    bubble.append(el("span", { class: "stamp" },
      v.edit_date ? el("span", { class: "edited", text: tr("edited") + " " }) : null, fmtStamp(v.date)));
    const wrap = el("div", {
      class: "msg " + (v.from === "bot" ? "in" : "out"), "data-message-id": v.message_id,
      "data-edits": v.edits || 0,
    }, bubble);
    if (v.buttons && v.buttons.length) {
      const kb = el("div", { class: "keyboard" });
      for (const row of v.buttons) {
        const r = el("div", { class: "kb-row" });
        for (const b of row) {
          const btn = el("button", { type: "button", class: "kb-btn", text: b.text });
          if (b.callback_data !== undefined) {
            btn.dataset.callback = b.callback_data;
            btn.addEventListener("click", () => this.press(v.message_id, b.callback_data, btn));
          } else if (b.url) {
            btn.classList.add("url");
            btn.addEventListener("click", () => window.open(safeHref(b.url) || "about:blank", "_blank", "noopener"));
          } else {
            btn.disabled = true;
          }
          r.append(btn);
        }
        kb.append(r);
      }
      wrap.append(kb);
    }
    return wrap;
  }

  async sendText(text) {
    text = (text || "").trim();
    if (!text) return;
    try {
      await postJSON(`/sandbox/users/${this.id}/text`, { text });
    } catch (err) {
      toast(tr("sendFailed", { reason: err.message }), "error", this.node.querySelector(".messages"));
    }
  }

  submit() {
    const text = this.input.value;
    if (!text.trim()) return;
    this.input.value = "";
    this.onInput();
    this.menu.hidden = true;
    this.sendText(text);
  }

  async press(messageId, data, btn) {
    btn.classList.add("pressed");
    try {
      await postJSON(`/sandbox/users/${this.id}/press`, { message_id: messageId, data });
    } catch (err) {
      toast(tr("sendFailed", { reason: err.message }), "error", this.list);
    } finally {
      setTimeout(() => btn.classList.remove("pressed"), 400);
    }
  }

  async upload(input) {
    const file = input.files && input.files[0];
    input.value = "";
    if (!file) return;
    const form = new FormData();
    form.append("file", file, file.name);
    const caption = this.input.value.trim();
    if (caption) { form.append("caption", caption); this.input.value = ""; }
    const kind = /^image\/(jpeg|png|webp)$/.test(file.type) ? "photo" : "document";
    if (kind === "document") form.append("file_name", file.name);
    try {
      await api(`/sandbox/users/${this.id}/${kind}`, { method: "POST", body: form });
    } catch (err) {
      toast(tr("sendFailed", { reason: err.message }), "error", this.list);
    }
  }

  async toggleMenu(filter) {
    if (!this.menu.hidden && filter === undefined) { this.menu.hidden = true; return; }
    let cmds = [];
    try { cmds = await api(`/sandbox/menu/${this.id}`); } catch { cmds = []; }
    const f = (filter || "").toLowerCase();
    const shown = cmds.filter((c) => !f || ("/" + c.command).startsWith(f));
    this.menu.replaceChildren(...(shown.length ? shown.map((c) => el("button", {
      type: "button", class: "menu-item", "data-command": c.command,
      onclick: () => { this.menu.hidden = true; this.input.value = ""; this.onInput(); this.sendText("/" + c.command); },
    }, el("span", { class: "menu-cmd", text: "/" + c.command }), el("span", { class: "menu-desc", text: c.description })))
      : [el("div", { class: "menu-empty", text: tr("noCommands") })]));
    this.menu.hidden = filter !== undefined && !shown.length;
  }

  onInput() {
    const v = this.input.value;
    this.input.style.height = "auto";
    this.input.style.height = Math.min(this.input.scrollHeight, 220) + "px";
    if (/^\/\w*$/.test(v)) this.toggleMenu(v);
    else if (v && !this.menu.hidden) this.menu.hidden = true;
  }

  typing() {
    const meta = this.node.querySelector(".pane-head .meta");
    meta.textContent = tr("typing");
    meta.classList.add("typing");
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => { meta.classList.remove("typing"); this.header(); }, 3000);
  }

  alert(text) {
    const box = el("div", { class: "alert", role: "alertdialog" },
      el("div", { class: "alert-text", text }),
      el("button", { type: "button", text: tr("ok"), onclick: () => box.remove() }));
    this.node.append(box);
  }
}

function savePanes() {
  localStorage.setItem("ep.panes", JSON.stringify([...state.panes.keys()]));
}

async function openPane(id) {
  const existing = state.panes.get(id);
  if (existing) {
    existing.node.scrollIntoView({ behavior: "smooth", inline: "nearest" });
    existing.input.focus();
    return existing;
  }
  const persona = state.byId.get(id);
  if (!persona) return null;
  const pane = new Pane(persona);
  state.panes.set(id, pane);
  document.getElementById("empty").hidden = true;
  document.getElementById("panes").append(pane.node);
  state.unread.delete(id);
  renderPersonas();
  savePanes();
  await pane.load();
  pane.node.scrollIntoView({ behavior: "smooth", inline: "nearest" });
  if (!pane.composer.hidden) pane.input.focus();
  return pane;
}

function closePane(id) {
  const pane = state.panes.get(id);
  if (!pane) return;
  pane.node.remove();
  state.panes.delete(id);
  document.getElementById("empty").hidden = state.panes.size > 0;
  renderPersonas();
  savePanes();
}

// ---- live updates: the sandbox's event log, long-polled ----------------------------------------------
function handleEvent(e) {
  const pane = state.panes.get(e.chat_id);
  switch (e.kind) {
    case "bot_message": case "user_message": case "edit": {
      const isNew = e.kind !== "edit";
      if (pane) pane.upsert(e.message);
      const last = state.last.get(e.chat_id);
      if (isNew || (last && last.message_id === e.message.message_id)) state.last.set(e.chat_id, e.message);
      if (e.kind === "bot_message" && !pane) state.unread.set(e.chat_id, (state.unread.get(e.chat_id) || 0) + 1);
      return true;
    }
    case "delete":
      if (pane) pane.remove(e.message_id);
      return false;
    case "callback_answer":
      if (pane && e.text) e.show_alert ? pane.alert(e.text) : toast(e.text, "answer", pane.list);
      return false;
    case "chat_action":
      if (pane && e.action === "typing") pane.typing();
      return false;
    default:
      return false;
  }
}

async function refreshPersonas() {
  state.personas = await api("/sandbox/personas");
  state.byId = new Map(state.personas.map((p) => [p.telegram_id, p]));
  for (const pane of state.panes.values()) {
    const p = state.byId.get(pane.id);
    if (p) { pane.p = p; pane.header(); }
  }
  renderPersonas();
}

async function loadWorld() {
  const world = await api("/sandbox/state");
  state.cursor = world.cursor;
  for (const chat of world.chats) if (chat.last_message) state.last.set(chat.id, chat.last_message);
  await refreshPersonas();
  for (const pane of state.panes.values()) await pane.load();
}

async function pollEvents() {
  let personasDue = false;
  for (;;) {
    try {
      const r = await api(`/sandbox/events?after=${state.cursor}&timeout=25`);
      if (!state.online) { state.online = true; document.body.classList.remove("offline"); }
      if (r.cursor < state.cursor) {  // the sandbox restarted: its event log begins again
        state.cursor = 0;
        await loadWorld();
        toast(tr("reconnected"));
        continue;
      }
      let listChanged = false;
      for (const e of r.events) {
        listChanged = handleEvent(e) || listChanged;
        if (e.kind === "user_message" && e.message && (e.message.text || "").startsWith("/")) personasDue = true;
      }
      state.cursor = r.cursor;
      if (personasDue) { personasDue = false; refreshPersonas().catch(() => {}); }  // roles may have changed
      else if (listChanged) renderPersonas();
    } catch (err) {
      if (state.online) { state.online = false; document.body.classList.add("offline"); toast(tr("offline"), "error"); }
      await sleep(2000);
    }
  }
}

// ---- the clock --------------------------------------------------------------------------------------
function showClock() {
  const now = new Date(Date.now() + state.clockOffset * 1000);
  document.getElementById("clock-now").textContent = fmtClock(now);
  document.getElementById("clock-now").dataset.iso = now.toISOString();
}
function setClock(c) {
  state.clockOffset = c.offset_seconds;
  state.tz = c.timezone || state.tz;
  showClock();
  const p = parts(new Date(Date.now() + (state.clockOffset + 86400) * 1000));
  document.getElementById("clock-to").value = `${p.year}-${p.month}-${p.day}T09:00`;
}
async function moveClock(body) {
  const buttons = document.querySelectorAll(".clock button");
  buttons.forEach((b) => { b.disabled = true; });
  try {
    const r = await postJSON("/sandbox/clock", body);
    setClock(r.clock);
    const counts = (r.tick && r.tick.counts) || {};
    const items = Object.entries(counts).map(([k, n]) => `${tr("rule_" + k)} ${n}`).join("，");
    toast(tr("clockMoved", { time: r.clock.local }) + " · " + (items ? tr("tickDid", { items }) : tr("tickNothing")), "clock");
  } catch (err) {
    toast(tr("clockFailed", { reason: err.message }), "error");
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

// ---- page chrome ----------------------------------------------------------------------------------
function applyTexts(root) {
  root.querySelectorAll("[data-t]").forEach((n) => { n.textContent = tr(n.dataset.t); });
  root.querySelectorAll("[data-t-placeholder]").forEach((n) => { n.placeholder = tr(n.dataset.tPlaceholder); });
  root.querySelectorAll("[data-t-title]").forEach((n) => { n.title = tr(n.dataset.tTitle); });
}
function setLang(lang) {
  state.lang = lang;
  localStorage.setItem("ep.lang", lang);
  document.documentElement.lang = lang;
  document.title = tr("title") + " · expertpanel Sandbox";
  document.querySelectorAll(".lang button").forEach((b) => b.classList.toggle("active", b.dataset.lang === lang));
  applyTexts(document);
  for (const pane of state.panes.values()) { pane.header(); pane.load(); }
  renderPersonas();
  showClock();
}

async function main() {
  document.querySelectorAll(".lang button").forEach((b) => b.addEventListener("click", () => setLang(b.dataset.lang)));
  document.querySelectorAll("[data-advance-hours]").forEach((b) =>
    b.addEventListener("click", () => moveClock({ advance_hours: Number(b.dataset.advanceHours) })));
  document.querySelectorAll("[data-advance-days]").forEach((b) =>
    b.addEventListener("click", () => moveClock({ advance_days: Number(b.dataset.advanceDays) })));
  document.getElementById("clock-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    moveClock({ to_date: document.getElementById("clock-to").value });
  });
  document.getElementById("persona-search").addEventListener("input", renderPersonas);
  setLang(state.lang);
  setClock(await api("/sandbox/clock"));
  setInterval(showClock, 10000);
  await loadWorld();
  let saved = [];
  try { saved = JSON.parse(localStorage.getItem("ep.panes") || "[]"); } catch { saved = []; }
  for (const id of saved) if (state.byId.has(id)) await openPane(id);
  document.body.classList.add("ready");
  pollEvents();
}

main().catch((err) => toast(String(err), "error"));
