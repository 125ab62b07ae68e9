// The console's only script (the Content-Security-Policy allows no inline code).
// - Copy buttons: <button data-copy="ELEMENT-ID"> copies that element's text.
// - Live transcript: <div data-live="URL" data-interval="MS"> reloads its content from URL (a fragment the
//   server rendered with every message escaped) while the page is visible.
// - Confirmations: <form data-confirm="question"> asks before it is sent.
"use strict";

function copyText(button) {
  const target = document.getElementById(button.dataset.copy);
  if (!target) return;
  const text = target.textContent.trim();
  const done = () => {
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = "✓";
    setTimeout(() => { button.textContent = label; }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => selectText(target));
  } else {
    selectText(target);
  }
}

function selectText(element) {
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

function live(element) {
  const url = element.dataset.live;
  const interval = Number(element.dataset.interval) || 2000;
  let last = element.innerHTML;
  async function poll() {
    if (!document.hidden) {
      try {
        const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
        if (response.redirected) {
          window.location.assign(response.url); // the session ended: show the sign-in page
          return;
        }
        if (response.ok) {
          const html = await response.text();
          if (html !== last) {
            element.innerHTML = html;
            last = element.innerHTML;
            element.dataset.updated = String(Date.now());
          }
        } else if (response.status === 404 || response.status === 403) {
          return; // gone, or the console was turned off: stop asking
        }
      } catch (err) {
        // the gateway restarted or the network dropped: try again at the next tick
      }
    }
    setTimeout(poll, interval);
  }
  setTimeout(poll, interval);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    button.addEventListener("click", () => copyText(button));
  });
  document.querySelectorAll("[data-live]").forEach(live);
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
});
