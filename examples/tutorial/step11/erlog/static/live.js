// Listens to the server's notifications and shows each new post as a toast.
const source = new EventSource(document.body.dataset.stream);

source.addEventListener("post", (event) => {
  const post = JSON.parse(event.data);
  const toast = document.createElement("a");
  toast.className = "toast";
  toast.href = post.url;
  toast.textContent = `New post by ${post.author}: ${post.title}`; // text, never HTML
  document.body.append(toast);
  setTimeout(() => toast.remove(), 8000);
});
