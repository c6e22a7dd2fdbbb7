// The chat page: a WebSocket to the chat room, messages rendered with textContent only.
"use strict";

(function () {
  const chat = document.getElementById("chat");
  const log = document.getElementById("chat-log");
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-text");
  const status = chat.querySelector(".chat-status");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}${chat.dataset.socket}`);

  function setState(state, text) {
    chat.dataset.state = state;
    status.textContent = text;
  }

  function time(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  const seen = new Set();

  function render(message) {
    const item = document.createElement("li");
    if (message.type === "message") {
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = message.user;
      const when = document.createElement("span");
      when.className = "when";
      when.textContent = time(message.at);
      item.append(who, " ", message.text, " ", when);
    } else {
      item.className = "system";
      item.textContent = `${message.user} ${message.type === "joined" ? "joined" : "left"}`;
    }
    return item;
  }

  function add(message) {
    if (message.id) {
      seen.add(message.id);
    }
    log.append(render(message));
    log.scrollTop = log.scrollHeight;
  }

  // The history can arrive after the first live messages: put it before them, once.
  function addHistory(messages) {
    const items = messages.filter((m) => !seen.has(m.id)).map(render);
    messages.forEach((m) => seen.add(m.id));
    log.prepend(...items);
    log.scrollTop = log.scrollHeight;
  }

  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "welcome") {
      addHistory(message.history);
      setState("connected", `Connected as ${message.user} · ${message.online} online`);
      return;
    }
    if (message.type !== "message") {
      setState("connected", `Connected as ${chat.dataset.user} · ${message.online} online`);
    }
    add(message);
  });
  socket.addEventListener("close", (event) => {
    setState("closed", event.code === 1000 ? "Disconnected." : "Disconnected: reload the page to rejoin.");
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (text && socket.readyState === WebSocket.OPEN) {
      socket.send(text);
      input.value = "";
    }
  });
})();
