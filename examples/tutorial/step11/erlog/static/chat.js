// Connects the chat page to /chat/socket and shows what the room says.
const log = document.getElementById("log");
const form = document.getElementById("say");
const scheme = location.protocol === "https:" ? "wss" : "ws";
const socket = new WebSocket(`${scheme}://${location.host}${log.dataset.socket}`);

function show(line) {
  const item = document.createElement("li");
  item.textContent = line; // text, never HTML: a message cannot inject markup
  log.append(item);
}

socket.onmessage = (event) => {
  const message = JSON.parse(event.data);
  show(`${message.user}: ${message.text}`);
};
socket.onclose = () => show("(disconnected: reload the page to rejoin)");
form.onsubmit = (event) => {
  event.preventDefault();
  socket.send(form.elements.text.value);
  form.reset();
};
