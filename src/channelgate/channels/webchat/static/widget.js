/*
 * channelgate web chat: the widget a site embeds, also used by the gateway's own page.
 * Vanilla JavaScript, no dependencies, nothing loaded from anywhere but the gateway.
 *
 *   <script src="https://bot.example.com/webchat/site/widget.js" defer></script>
 *       a floating launcher button that opens a chat panel
 *   <div id="chat" style="height: 600px"></div>
 *   <script src="https://bot.example.com/webchat/site/widget.js" data-target="chat" defer></script>
 *       the chat inside that element
 *
 * Script attributes: data-target (an element id: inline mode), data-mode ("launcher" or "inline"),
 * data-title (shown until the server sends its own), data-open ("true": the launcher starts open),
 * data-theme ("light", "dark" or "auto"). The colour can be set from the page with the CSS custom
 * property --cg-accent (on :root or on .channelgate-chat).
 *
 * The protocol is documented in docs/channels/webchat.md. Text from the bot or the user never goes
 * through innerHTML: every node is built with the DOM API, and URLs are checked against a scheme list.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !script.src) return;

  var scriptUrl = new URL(script.src, document.baseURI);
  var basePath = scriptUrl.pathname.replace(/\/widget\.js$/, "");
  var base = scriptUrl.origin + basePath;
  var wsUrl = (scriptUrl.protocol === "https:" ? "wss://" : "ws://") + scriptUrl.host + basePath + "/ws";
  var label = decodeURIComponent(basePath.split("/").pop() || "chat");
  var storeKey = "channelgate.webchat:" + base;

  var options = {
    target: script.getAttribute("data-target"),
    mode: script.getAttribute("data-mode"),
    title: script.getAttribute("data-title") || "Chat",
    open: script.getAttribute("data-open") === "true",
    theme: script.getAttribute("data-theme") || "light"
  };
  if (options.mode !== "inline" && options.mode !== "launcher") {
    options.mode = options.target ? "inline" : "launcher";
  }

  var MAX_TRANSCRIPT = 200;
  var MAX_TEXT = 4096;
  var TYPING_TIMEOUT = 20000;
  var FATAL_CLOSE = { 1008: true, 4404: true };
  var SVG_NS = "http://www.w3.org/2000/svg";
  var ICONS = {
    chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z",
    close: "M6 6l12 12M18 6L6 18",
    send: "M4 12l16-8-6 16-2-7-8-1z",
    pin: "M12 22s7-6.2 7-12a7 7 0 1 0-14 0c0 5.8 7 12 7 12zm0-9a3 3 0 1 0 0-6 3 3 0 0 0 0 6z",
    left: "M15 6l-6 6 6 6",
    right: "M9 6l6 6-6 6"
  };

  // --- storage: identity, transcript and unacknowledged inputs, shared by the tabs of one site ---------

  var memory = null; // used instead of localStorage when the browser refuses it

  function emptyState() {
    return { user_id: null, token: null, transcript: [], pending: [] };
  }

  function readState() {
    if (memory === null) {
      try {
        var raw = window.localStorage.getItem(storeKey);
        var parsed = raw ? JSON.parse(raw) : null;
        var state = emptyState();
        if (parsed && typeof parsed === "object") {
          state.user_id = typeof parsed.user_id === "string" ? parsed.user_id : null;
          state.token = typeof parsed.token === "string" ? parsed.token : null;
          state.transcript = Array.isArray(parsed.transcript) ? parsed.transcript : [];
          state.pending = Array.isArray(parsed.pending) ? parsed.pending : [];
        }
        return state;
      } catch (e) {
        memory = emptyState();
      }
    }
    return JSON.parse(JSON.stringify(memory));
  }

  function writeState(state) {
    if (state.transcript.length > MAX_TRANSCRIPT) {
      state.transcript = state.transcript.slice(-MAX_TRANSCRIPT);
    }
    if (memory === null) {
      try {
        window.localStorage.setItem(storeKey, JSON.stringify(state));
        return;
      } catch (e) {
        /* full or forbidden: keep going in memory */
      }
    }
    memory = state;
  }

  function update(change) {
    var state = readState();
    change(state);
    writeState(state);
    return state;
  }

  // --- DOM helpers -----------------------------------------------------------------------------------

  function h(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "class") node.className = value;
        else if (key === "text") node.textContent = value;
        else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
        else node.setAttribute(key, value === true ? "" : String(value));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) {
      child.forEach(function (c) { append(node, c); });
    } else {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }

  function icon(name) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", "cg-icon cg-icon-" + name);
    var path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", ICONS[name]);
    svg.appendChild(path);
    return svg;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  /** An absolute URL when ``value`` uses one of ``schemes``, else null (no javascript: links). */
  function safeUrl(value, schemes) {
    if (typeof value !== "string" || !value) return null;
    var url;
    try {
      url = new URL(value, base + "/");
    } catch (e) {
      return null;
    }
    return (schemes || ["http:", "https:"]).indexOf(url.protocol) >= 0 ? url.href : null;
  }

  function imageUrl(value) {
    var href = safeUrl(value, ["http:", "https:", "data:", "blob:"]);
    if (href && href.slice(0, 5) === "data:" && href.slice(0, 11) !== "data:image/") return null;
    return href;
  }

  function telUrl(phone) {
    var digits = String(phone || "").replace(/[^0-9+*#]/g, "");
    return digits ? "tel:" + digits : null;
  }

  function link(href, content, cls) {
    return h("a", { href: href, target: "_blank", rel: "noopener noreferrer", class: cls }, content);
  }

  var URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;

  /** Text with its http(s) URLs as links: text nodes and anchors, never parsed HTML. */
  function linkify(text) {
    text = String(text === undefined || text === null ? "" : text);
    var fragment = document.createDocumentFragment();
    var last = 0;
    var match;
    URL_PATTERN.lastIndex = 0;
    while ((match = URL_PATTERN.exec(text)) !== null) {
      var url = match[0].replace(/[.,;:!?'")\]]+$/, "");
      if (match.index > last) fragment.appendChild(document.createTextNode(text.slice(last, match.index)));
      var href = safeUrl(url);
      fragment.appendChild(href ? link(href, url) : document.createTextNode(url));
      last = match.index + url.length;
      URL_PATTERN.lastIndex = last;
    }
    if (last < text.length) fragment.appendChild(document.createTextNode(text.slice(last)));
    return fragment;
  }

  function uuid() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  // --- rendering universal messages ------------------------------------------------------------------

  function bubble(cls, content) {
    return h("div", { class: "cg-bubble " + (cls || "") }, content);
  }

  function image(url, alt, cls) {
    var src = imageUrl(url);
    function missing() {
      return h("div", { class: "cg-img-missing " + cls, role: "img", "aria-label": alt }, h("span", { text: alt }));
    }
    if (!src) return missing();
    var img = h("img", { class: cls, src: src, alt: alt, loading: "lazy", decoding: "async" });
    img.addEventListener("load", function () {
      if (atBottom) scrollToBottom(); // a picture that arrives late must not push the last message away
    });
    img.addEventListener("error", function () {
      if (img.parentNode) img.parentNode.replaceChild(missing(), img);
    });
    return img;
  }

  function actionButton(action, cls) {
    cls = cls || "cg-action";
    var title = String(action.title || "");
    if (action.type === "url") {
      var href = safeUrl(action.url);
      if (!href) return h("button", { class: cls, type: "button", disabled: true, text: title });
      return link(href, [title, h("span", { class: "cg-action-mark", "aria-hidden": "true", text: "↗" })],
        cls + " cg-action-link");
    }
    if (action.type === "call") {
      var tel = telUrl(action.phone);
      if (!tel) return h("button", { class: cls, type: "button", disabled: true, text: title });
      return h("a", { class: cls + " cg-action-link", href: tel, "aria-label": title + " (" + action.phone + ")" },
        h("span", { class: "cg-action-mark", "aria-hidden": "true", text: "☎" }), title);
    }
    return h("button", {
      class: cls, type: "button", text: title,
      onclick: function () { sendPostback(action.payload, title); }
    });
  }

  function renderText(m) {
    return bubble("", h("p", { class: "cg-text" }, linkify(m.text)));
  }

  function renderMedia(m) {
    var caption = m.caption ? h("p", { class: "cg-caption" }, linkify(m.caption)) : null;
    var src = safeUrl(m.url);
    var name = m.caption || m.filename || m.kind;
    var body;
    if (m.kind === "image") {
      body = image(m.url, m.caption || m.filename || "Image", "cg-media-img");
    } else if (!src) {
      body = h("p", { class: "cg-text cg-muted", text: "(this " + m.kind + " cannot be shown)" });
    } else if (m.kind === "video") {
      body = h("video", { class: "cg-media-video", src: src, controls: true, preload: "metadata", "aria-label": name },
        link(src, "Open the video"));
    } else if (m.kind === "audio") {
      body = h("audio", { class: "cg-media-audio", src: src, controls: true, preload: "metadata", "aria-label": name },
        link(src, "Open the audio"));
    } else {
      var filename = m.filename || decodeURIComponent(new URL(src).pathname.split("/").pop() || "") || "file";
      body = h("a", { class: "cg-file", href: src, download: m.filename || "", target: "_blank", rel: "noopener noreferrer" },
        h("span", { class: "cg-file-icon", "aria-hidden": "true", text: "📄" }),
        h("span", { class: "cg-file-name", text: filename }),
        h("span", { class: "cg-sr", text: " (download)" }));
    }
    return bubble("cg-media cg-media-" + m.kind, [body, caption]);
  }

  function renderCard(card, inCarousel) {
    var media = null;
    if (card.media) {
      var height = ["short", "medium", "tall"].indexOf(card.media.height) >= 0 ? card.media.height : "medium";
      media = image(card.media.url, card.media.alt_text || card.title, "cg-card-img cg-h-" + height);
    }
    var buttons = (card.buttons || []).map(function (a) { return actionButton(a); });
    return h("article", { class: "cg-card" + (inCarousel ? " cg-card-slide" : ""), "aria-label": card.title },
      media,
      h("div", { class: "cg-card-body" },
        h("h3", { class: "cg-card-title", text: card.title }),
        card.description ? h("p", { class: "cg-card-desc" }, linkify(card.description)) : null),
      buttons.length ? h("div", { class: "cg-actions" }, buttons) : null);
  }

  function renderCarousel(m) {
    var cards = (m.cards || []).map(function (c) { return renderCard(c, true); });
    var strip = h("div", {
      class: "cg-carousel", role: "group", tabindex: "0",
      "aria-label": "Carousel of " + cards.length + " cards"
    }, cards);
    function scrollBy(direction) {
      var first = strip.firstElementChild;
      var step = first ? first.getBoundingClientRect().width + 10 : 250;
      strip.scrollBy({ left: direction * step, behavior: "smooth" });
    }
    var previous = h("button", { class: "cg-carousel-nav cg-prev", type: "button", "aria-label": "Previous card",
      onclick: function () { scrollBy(-1); } }, icon("left"));
    var next = h("button", { class: "cg-carousel-nav cg-next", type: "button", "aria-label": "Next card",
      onclick: function () { scrollBy(1); } }, icon("right"));
    function arrows() {
      previous.hidden = strip.scrollLeft <= 2;
      next.hidden = strip.scrollLeft + strip.clientWidth >= strip.scrollWidth - 2;
    }
    strip.addEventListener("scroll", arrows, { passive: true });
    window.setTimeout(arrows, 0);
    return h("div", { class: "cg-carousel-wrap" }, strip, previous, next);
  }

  function renderList(m) {
    var items = (m.items || []).map(function (item) {
      return h("li", null, h("button", {
        class: "cg-list-item", type: "button",
        onclick: function () { sendPostback(item.payload, item.title); }
      },
      h("span", { class: "cg-list-title", text: item.title }),
      item.description ? h("span", { class: "cg-list-desc", text: item.description }) : null));
    });
    return bubble("cg-list", [
      m.header ? h("p", { class: "cg-list-header", text: m.header }) : null,
      h("p", { class: "cg-text" }, linkify(m.text)),
      h("ul", { class: "cg-list-items", "aria-label": m.button || m.header || "Choices" }, items),
      m.footer ? h("p", { class: "cg-list-footer", text: m.footer }) : null
    ]);
  }

  function renderLocation(m) {
    var lat = Number(m.latitude);
    var lon = Number(m.longitude);
    var href = "https://www.openstreetmap.org/?mlat=" + lat + "&mlon=" + lon + "#map=16/" + lat + "/" + lon;
    var coords = lat.toFixed(5) + ", " + lon.toFixed(5);
    return bubble("cg-location", [
      h("p", { class: "cg-location-name" }, icon("pin"), h("span", { text: m.name || coords })),
      m.address ? h("p", { class: "cg-caption", text: m.address }) : null,
      m.name ? h("p", { class: "cg-caption", text: coords }) : null,
      link(href, ["Open the map", h("span", { class: "cg-action-mark", "aria-hidden": "true", text: "↗" })],
        "cg-action cg-action-link")
    ]);
  }

  function renderTemplate(m) {
    var params = (m.parameters || []).map(function (p) {
      return typeof p === "string" || typeof p === "number" ? String(p) : JSON.stringify(p);
    });
    return bubble("cg-template", [
      h("p", { class: "cg-template-name" },
        h("span", { class: "cg-tag", text: "Template" }), " ",
        h("strong", { text: m.name }), m.language ? " (" + m.language + ")" : ""),
      params.length ? h("ol", { class: "cg-template-params" }, params.map(function (p) { return h("li", { text: p }); })) : null
    ]);
  }

  var RENDERERS = {
    text: renderText,
    media: renderMedia,
    card: function (m) { return renderCard(m, false); },
    carousel: renderCarousel,
    list: renderList,
    location: renderLocation,
    template: renderTemplate
  };

  function renderMessage(m) {
    var renderer = m && RENDERERS[m.type];
    if (!renderer) return bubble("cg-muted", h("p", { class: "cg-text", text: "(a message this chat cannot show)" }));
    return renderer(m);
  }

  function renderEntry(entry) {
    var row = h("div", { class: "cg-row cg-from-" + (entry.from === "user" ? "user" : "bot"), "data-id": entry.id });
    if (entry.from === "user") {
      row.appendChild(h("span", { class: "cg-sr", text: "You: " }));
      var content = entry.kind === "location" ? [icon("pin"), String(entry.text)] : String(entry.text);
      row.appendChild(bubble("cg-user", h("p", { class: "cg-text" }, content)));
      row.appendChild(h("p", { class: "cg-note", hidden: true }));
      updateEntry(row, entry);
    } else {
      row.appendChild(h("span", { class: "cg-sr", text: title + ": " }));
      try {
        row.appendChild(renderMessage(entry.message));
      } catch (e) {
        row.appendChild(bubble("cg-muted", h("p", { class: "cg-text", text: "(a message this chat cannot show)" })));
      }
    }
    return row;
  }

  function updateEntry(row, entry) {
    row.classList.toggle("cg-pending", entry.status === "pending");
    row.classList.toggle("cg-failed", entry.status === "failed");
    var note = row.querySelector(".cg-note");
    if (!note) return;
    note.hidden = entry.status !== "failed";
    note.textContent = entry.status === "failed" ? "Not sent: " + (entry.error || "refused") : "";
  }

  // --- the user interface ----------------------------------------------------------------------------

  var title = options.title;
  var host, root, container, panel, titleNode, statusNode, log, welcomeNode, typingNode, quick, form, input;
  var launcher = null;
  var badge = null;
  var isOpen = options.mode === "inline";
  var unread = 0;
  var rendered = {};

  function build() {
    host = h("div", { class: "channelgate-chat", "data-mode": options.mode, "data-theme": options.theme });
    root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    var stylesheet = h("link", { rel: "stylesheet", href: base + "/chat.css" });
    container = h("div", { class: "cg-root cg-mode-" + options.mode, hidden: true });
    function reveal() { container.hidden = false; }
    stylesheet.addEventListener("load", reveal);
    stylesheet.addEventListener("error", reveal);
    root.appendChild(stylesheet);
    root.appendChild(container);

    var panelId = "cg-panel-" + label;
    titleNode = h("h2", { class: "cg-title", id: "cg-title-" + label, text: title });
    statusNode = h("p", { class: "cg-status", role: "status", "aria-live": "polite" });
    var header = h("header", { class: "cg-header" }, h("div", { class: "cg-heading" }, titleNode, statusNode));
    if (options.mode === "launcher") {
      header.appendChild(h("button", { class: "cg-icon-button cg-close", type: "button", "aria-label": "Close the chat",
        onclick: function () { setOpen(false); } }, icon("close")));
    }
    welcomeNode = h("div", { class: "cg-row cg-from-bot cg-welcome", hidden: true });
    typingNode = h("div", { class: "cg-row cg-from-bot", hidden: true },
      h("div", { class: "cg-typing", role: "status", "aria-label": "The bot is typing" },
        h("span"), h("span"), h("span")));
    log = h("div", { class: "cg-log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
      "aria-label": "Conversation", tabindex: "0" }, welcomeNode, typingNode);
    log.addEventListener("scroll", function () {
      atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    }, { passive: true });
    quick = h("div", { class: "cg-quick", role: "group", "aria-label": "Suggested replies", hidden: true });

    input = h("input", {
      class: "cg-input", type: "text", id: "cg-input-" + label, name: "message", autocomplete: "off",
      maxlength: String(MAX_TEXT), placeholder: "Type a message…", enterkeyhint: "send"
    });
    var inputLabel = h("label", { class: "cg-sr", for: "cg-input-" + label, text: "Message" });
    var controls = [inputLabel, input];
    if (navigator.geolocation) {
      controls.push(h("button", { class: "cg-icon-button cg-locate", type: "button", "aria-label": "Share my location",
        title: "Share my location", onclick: shareLocation }, icon("pin")));
    }
    controls.push(h("button", { class: "cg-send", type: "submit", "aria-label": "Send" }, icon("send")));
    form = h("form", { class: "cg-composer", onsubmit: onSubmit }, controls);

    panel = h("section", { class: "cg-panel", id: panelId, "aria-labelledby": titleNode.id }, header, log, quick, form);
    if (options.mode === "launcher") {
      panel.setAttribute("role", "dialog");
      panel.hidden = true;
      badge = h("span", { class: "cg-badge", hidden: true, "aria-hidden": "true" });
      launcher = h("button", {
        class: "cg-launcher", type: "button", "aria-controls": panelId, "aria-expanded": "false",
        "aria-label": "Open the chat: " + title, onclick: function () { setOpen(!isOpen); }
      }, icon("chat"), badge);
      container.appendChild(launcher);
      panel.addEventListener("keydown", function (event) {
        if (event.key === "Escape") setOpen(false);
      });
    }
    container.appendChild(panel);
  }

  function findTarget(name) {
    if (!name) return null;
    var found = document.getElementById(name);
    if (!found) {
      try { found = document.querySelector(name); } catch (e) { found = null; }
    }
    return found;
  }

  function mount() {
    var target = null;
    if (options.mode === "inline") {
      target = findTarget(options.target);
      if (!target) {
        if (window.console) console.warn("channelgate web chat: no element " + options.target + "; showing a launcher");
        options.mode = "launcher";
        isOpen = false;
      }
    }
    build();
    (target || document.body).appendChild(host);
  }

  function setOpen(open) {
    if (!launcher) return;
    isOpen = open;
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    launcher.setAttribute("aria-label", (open ? "Close the chat: " : "Open the chat: ") + title);
    if (open) {
      unread = 0;
      updateBadge();
      connect();
      scrollToBottom();
      input.focus();
    } else {
      launcher.focus();
    }
  }

  function updateBadge() {
    if (!badge) return;
    badge.hidden = unread === 0;
    badge.textContent = unread > 9 ? "9+" : String(unread);
    launcher.setAttribute("aria-label", (isOpen ? "Close the chat: " : "Open the chat: ") + title +
      (unread ? " (" + unread + " new)" : ""));
  }

  function setStatus(text) {
    statusNode.textContent = text;
    statusNode.hidden = !text;
  }

  function setTitle(text) {
    title = text;
    titleNode.textContent = text;
    if (launcher) updateBadge();
  }

  function renderWelcome(text) {
    clear(welcomeNode);
    welcomeNode.hidden = !text;
    if (text) welcomeNode.appendChild(bubble("", h("p", { class: "cg-text" }, linkify(text))));
  }

  var atBottom = true;

  function scrollToBottom() {
    log.scrollTop = log.scrollHeight;
    atBottom = true;
  }

  /** Make the page show what storage holds: add new rows in order, update statuses, drop trimmed rows. */
  function sync(forceScroll) {
    var state = readState();
    var nearBottom = atBottom || log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    var keep = {};
    var anchor = welcomeNode;
    var added = false;
    state.transcript.forEach(function (entry) {
      if (!entry || typeof entry.id !== "string") return;
      keep[entry.id] = true;
      var row = rendered[entry.id];
      if (!row) {
        row = renderEntry(entry);
        rendered[entry.id] = row;
        added = true;
      } else if (entry.from === "user") {
        updateEntry(row, entry);
      }
      if (anchor.nextSibling !== row) log.insertBefore(row, anchor.nextSibling);
      anchor = row;
    });
    Object.keys(rendered).forEach(function (id) {
      if (!keep[id]) {
        rendered[id].remove();
        delete rendered[id];
      }
    });
    if (log.lastChild !== typingNode) log.appendChild(typingNode);
    renderQuickReplies(state);
    if (added && (forceScroll || nearBottom)) scrollToBottom();
  }

  /** Quick replies belong to the last message: chips under it, gone once the user answers. */
  function renderQuickReplies(state) {
    var last = state.transcript[state.transcript.length - 1];
    var actions = last && last.from === "bot" && last.message && Array.isArray(last.message.quick_replies)
      ? last.message.quick_replies : [];
    clear(quick);
    actions.forEach(function (action) { quick.appendChild(actionButton(action, "cg-chip")); });
    quick.hidden = actions.length === 0;
  }

  var typingTimer = null;

  function showTyping() {
    typingNode.hidden = false;
    window.clearTimeout(typingTimer);
    typingTimer = window.setTimeout(hideTyping, TYPING_TIMEOUT);
    scrollToBottom();
  }

  function hideTyping() {
    typingNode.hidden = true;
    window.clearTimeout(typingTimer);
  }

  // --- inputs ------------------------------------------------------------------------------------------

  function onSubmit(event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    sendInput({ type: "text", text: text.slice(0, MAX_TEXT) }, text);
  }

  function sendPostback(payload, shown) {
    var frame = { type: "postback", payload: String(payload) };
    if (shown) frame.title = String(shown);
    sendInput(frame, shown || String(payload));
  }

  function shareLocation() {
    navigator.geolocation.getCurrentPosition(function (position) {
      var lat = position.coords.latitude;
      var lon = position.coords.longitude;
      sendInput({ type: "location", latitude: lat, longitude: lon }, lat.toFixed(5) + ", " + lon.toFixed(5));
    }, function (error) {
      setStatus("Location unavailable: " + error.message);
    }, { timeout: 15000, maximumAge: 60000 });
  }

  /** Show the input at once, keep it until the server acknowledges it, resend it after a reconnect. */
  function sendInput(frame, shown) {
    if (fatal) return;
    frame.id = uuid();
    update(function (state) {
      state.transcript.push({ id: frame.id, from: "user", kind: frame.type, text: shown, status: "pending", ts: Date.now() });
      state.pending.push(frame);
    });
    sync(true);
    showTyping();
    transmit(frame);
    connect();
  }

  // --- the connection ----------------------------------------------------------------------------------

  var ws = null;
  var welcomed = false;
  var attempts = 0;
  var reconnectTimer = null;
  var fatal = null;

  function languages() {
    var list = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
    return Array.prototype.slice.call(list, 0, 5);
  }

  function transmit(frame) {
    if (ws && welcomed && ws.readyState === 1) ws.send(JSON.stringify(frame));
  }

  function connect() {
    if (fatal || ws) return;
    window.clearTimeout(reconnectTimer);
    reconnectTimer = null;
    setStatus("Connecting…");
    var socket;
    try {
      socket = new WebSocket(wsUrl);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    ws = socket;
    socket.onopen = function () {
      var state = readState();
      socket.send(JSON.stringify({
        type: "hello", user_id: state.user_id || undefined, token: state.token || undefined, languages: languages()
      }));
    };
    socket.onmessage = function (event) {
      if (socket === ws) onFrame(event.data);
    };
    socket.onclose = function (event) {
      if (socket !== ws) return;
      ws = null;
      welcomed = false;
      if (FATAL_CLOSE[event.code]) {
        fatal = event.reason || "This chat is not available here.";
        hideTyping();
        setStatus(fatal);
        input.disabled = true;
        return;
      }
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    setStatus("Offline, reconnecting…");
    var delay = Math.min(10000, 500 * Math.pow(2, attempts)) * (0.5 + Math.random() / 2);
    attempts += 1;
    window.clearTimeout(reconnectTimer);
    reconnectTimer = window.setTimeout(connect, delay);
  }

  function onFrame(text) {
    var frame;
    try {
      frame = JSON.parse(text);
    } catch (e) {
      return;
    }
    if (!frame || typeof frame !== "object") return;
    if (frame.type === "welcome") onWelcome(frame);
    else if (frame.type === "ack") onAck(frame.id);
    else if (frame.type === "message") onMessage(frame);
    else if (frame.type === "error") onError(frame);
  }

  function onWelcome(frame) {
    attempts = 0;
    welcomed = true;
    var state = update(function (s) {
      if (s.user_id && s.user_id !== frame.user_id) {
        // the server did not recognise the stored identity: that conversation is gone
        s.transcript = [];
        s.pending = [];
      }
      s.user_id = frame.user_id;
      s.token = frame.token;
    });
    if (frame.title) setTitle(String(frame.title));
    renderWelcome(frame.welcome);
    setStatus("");
    sync();
    state.pending.forEach(transmit);
  }

  function onAck(id) {
    update(function (s) {
      s.pending = s.pending.filter(function (p) { return p.id !== id; });
      s.transcript.forEach(function (e) { if (e.id === id) e.status = "sent"; });
    });
    sync();
  }

  function onMessage(frame) {
    if (typeof frame.id !== "string" || !frame.message) return;
    var added = false;
    update(function (s) {
      var known = s.transcript.some(function (e) { return e.id === frame.id; });
      if (!known) {
        s.transcript.push({ id: frame.id, from: "bot", message: frame.message, ts: Date.now() });
        added = true;
      }
    });
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "received", id: frame.id }));
    hideTyping();
    if (added) {
      sync();
      if (!isOpen) {
        unread += 1;
        updateBadge();
      }
    }
  }

  function onError(frame) {
    if (typeof frame.id !== "string") {
      if (window.console) console.warn("channelgate web chat:", frame.reason);
      return;
    }
    if (typeof frame.retry_after === "number") {
      window.setTimeout(function () {
        readState().pending.forEach(function (p) { if (p.id === frame.id) transmit(p); });
      }, Math.max(250, frame.retry_after * 1000));
      return;
    }
    update(function (s) {
      s.pending = s.pending.filter(function (p) { return p.id !== frame.id; });
      s.transcript.forEach(function (e) {
        if (e.id === frame.id) {
          e.status = "failed";
          e.error = String(frame.reason || "");
        }
      });
    });
    hideTyping();
    sync();
  }

  // --- start -------------------------------------------------------------------------------------------

  function start() {
    mount();
    sync(true);
    var returning = readState().user_id !== null;
    if (options.mode === "inline" || returning || options.open) connect();
    if (options.mode === "launcher" && options.open) setOpen(true);
    window.addEventListener("storage", function (event) {
      if (event.key === storeKey) sync();
    });
    window.addEventListener("online", function () {
      if (!ws && !fatal && (isOpen || readState().user_id)) connect();
    });
    window.channelgate = window.channelgate || {};
    window.channelgate[label] = {
      open: function () { setOpen(true); },
      close: function () { setOpen(false); },
      send: function (text) { if (String(text || "").trim()) sendInput({ type: "text", text: String(text).slice(0, MAX_TEXT) }, String(text)); }
    };
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
