/* dversum MCP Apps bridge: JSON-RPC over postMessage with the host (ui/initialize,
   tool input/result notifications, tools/call), the host theme, and DOM helpers that only
   ever create text nodes from data. Inlined into every view by dversum_mcp.server.views. */
"use strict";
const App = (() => {
  const host = window.parent;
  const pending = new Map();
  const listeners = {};
  let nextId = 1;
  let hostCapabilities = {};
  let hostContext = {};

  function post(message) { host.postMessage(message, "*"); }

  function request(method, params, timeoutMs) {
    return new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        if (pending.delete(id)) reject(new Error(method + " timed out"));
      }, timeoutMs || 120000);
      pending.set(id, { resolve, reject, timer });
      post({ jsonrpc: "2.0", id, method, params: params || {} });
    });
  }

  function notify(method, params) { post({ jsonrpc: "2.0", method, params: params || {} }); }

  function on(method, fn) { listeners[method] = fn; }

  window.addEventListener("message", (event) => {
    if (event.source !== host) return;
    const msg = event.data;
    if (!msg || typeof msg !== "object" || msg.jsonrpc !== "2.0") return;
    if (msg.method === undefined && msg.id !== undefined) {
      const waiter = pending.get(msg.id);
      if (!waiter) return;
      pending.delete(msg.id);
      clearTimeout(waiter.timer);
      if (msg.error) waiter.reject(new Error(String(msg.error.message || "host error")));
      else waiter.resolve(msg.result);
      return;
    }
    if (typeof msg.method !== "string") return;
    if (msg.id !== undefined) {  // a request from the host
      if (msg.method === "ui/resource-teardown" || msg.method === "ping") {
        post({ jsonrpc: "2.0", id: msg.id, result: {} });
      } else {
        post({ jsonrpc: "2.0", id: msg.id, error: { code: -32601, message: "Method not found" } });
      }
      return;
    }
    if (msg.method === "ui/notifications/host-context-changed") {
      applyContext(msg.params || {});
    }
    const fn = listeners[msg.method];
    if (fn) {
      try { fn(msg.params || {}); } catch (err) { showError(err); }
    }
  });

  const VAR_NAME = /^--[a-z0-9-]{1,64}$/;
  function applyContext(ctx) {
    hostContext = Object.assign({}, hostContext, ctx);
    const root = document.documentElement;
    if (ctx.theme === "dark" || ctx.theme === "light") {
      root.dataset.theme = ctx.theme;
      root.style.colorScheme = ctx.theme;
    }
    const vars = ctx.styles && ctx.styles.variables;
    if (vars && typeof vars === "object") {
      for (const [key, value] of Object.entries(vars)) {
        if (VAR_NAME.test(key) && typeof value === "string" && value.length < 200) root.style.setProperty(key, value);
      }
    }
    if (ctx.containerDimensions && typeof ctx.containerDimensions.maxHeight === "number") {
      root.style.setProperty("--app-max-height", ctx.containerDimensions.maxHeight + "px");
    }
  }

  async function start(name, handlers) {
    if (handlers.input) on("ui/notifications/tool-input", handlers.input);
    if (handlers.result) on("ui/notifications/tool-result", handlers.result);
    on("ui/notifications/tool-cancelled", () => status("The call was cancelled."));
    const result = await request("ui/initialize", {
      protocolVersion: "2026-01-26",
      appInfo: { name: "dversum-" + name, version: "1" },
      appCapabilities: { availableDisplayModes: ["inline", "fullscreen"] },
    }, 15000);
    hostCapabilities = (result && result.hostCapabilities) || {};
    applyContext((result && result.hostContext) || {});
    notify("ui/notifications/initialized", {});
    if (typeof ResizeObserver === "function") {
      let last = "";
      new ResizeObserver(() => {
        const size = { width: Math.ceil(document.documentElement.scrollWidth), height: Math.ceil(document.documentElement.scrollHeight) };
        const key = size.width + "x" + size.height;
        if (key !== last) { last = key; notify("ui/notifications/size-changed", size); }
      }).observe(document.body);
    }
  }

  /** tools/call through the host; resolves with the CallToolResult, rejects on isError. */
  async function callTool(name, args) {
    const result = await request("tools/call", { name, arguments: args || {} });
    if (!result || result.isError) {
      const sc = (result && result.structuredContent) || {};
      const text = sc.message || firstText(result) || "The call failed.";
      const err = new Error(String(text));
      err.code = sc.error;
      err.hint = sc.hint;
      throw err;
    }
    return result;
  }

  function firstText(result) {
    const items = (result && result.content) || [];
    const item = items.find((c) => c && c.type === "text");
    return item ? String(item.text) : "";
  }

  /** An element; children are nodes or strings (always text nodes), never markup. */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [key, value] of Object.entries(props)) {
        if (value === undefined || value === null || value === false) continue;
        if (key === "class") node.className = String(value);
        else if (key === "text") node.textContent = String(value);
        else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
        else if (key === "dataset") Object.assign(node.dataset, value);
        else if (key === "style") Object.assign(node.style, value);
        else node.setAttribute(key, value === true ? "" : String(value));
      }
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  const euro = new Intl.NumberFormat("de-DE", { style: "currency", currency: "EUR" });
  function eur(cents) { return typeof cents === "number" ? euro.format(cents / 100) : "–"; }

  const dateFmt = new Intl.DateTimeFormat("de-DE", { day: "2-digit", month: "2-digit", year: "numeric", timeZone: "UTC" });
  function date(iso) {
    if (typeof iso !== "string" || !/^\d{4}-\d{2}-\d{2}/.test(iso)) return "–";
    return dateFmt.format(new Date(iso.slice(0, 10) + "T00:00:00Z"));
  }

  function status(text, kind) {
    const box = document.getElementById("status");
    if (!box) return;
    box.textContent = text || "";
    box.dataset.kind = kind || "info";
  }

  function showError(err) {
    const text = err && err.message ? err.message : String(err);
    status(err && err.hint ? text + " " + err.hint : text, "error");
  }

  function canDownload() { return Boolean(hostCapabilities.downloadFile); }

  /** Tell the model what the user changed in the view (when the host takes model context). */
  function tellModel(text) {
    if (!hostCapabilities.updateModelContext) return;
    request("ui/update-model-context", { content: [{ type: "text", text: String(text) }] }).catch(() => {});
  }

  function download(contents) { return request("ui/download-file", { contents }); }

  return {
    start, callTool, request, notify, el, clear, eur, date, status, showError, firstText,
    canDownload, download, tellModel, context: () => hostContext,
  };
})();
