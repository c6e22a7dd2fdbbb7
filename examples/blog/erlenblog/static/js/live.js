// Site-wide live notifications: one EventSource per page, fed by /notifications/stream.
// Every page loads this file; the stream's URL comes from <body data-stream="...">.
"use strict";

(function () {
  const body = document.body;
  const url = body.dataset.stream;
  if (!url || !window.EventSource) {
    return;
  }

  function toast(post) {
    const box = document.getElementById("toasts");
    const item = document.createElement("div");
    item.className = "toast";
    item.append("New post: ");
    const link = document.createElement("a");
    link.href = post.url;
    link.textContent = post.title;
    item.append(link, ` by ${post.author}`);
    box.append(item);
    // Keep the last few only; the page can stay open for hours.
    while (box.children.length > 4) {
      box.firstElementChild.remove();
    }
  }

  const source = new EventSource(url);
  // "ready": the stream is live (after replaying what a reconnection missed).
  source.addEventListener("ready", () => {
    body.dataset.live = "on";
  });
  source.addEventListener("post", (event) => {
    toast(JSON.parse(event.data));
  });
  // Back after a longer absence than the server's history covers: some posts were missed.
  source.addEventListener("reset", () => {
    const box = document.getElementById("toasts");
    const item = document.createElement("div");
    item.className = "toast";
    const link = document.createElement("a");
    link.href = location.href;
    link.textContent = "Reload";
    item.append("You were offline for a while. ", link, " to see what is new.");
    box.append(item);
    body.dataset.live = "on";
  });
  source.addEventListener("error", () => {
    // EventSource reconnects by itself (after the server's retry delay).
    body.dataset.live = "off";
  });
  window.addEventListener("pagehide", () => source.close());
})();
