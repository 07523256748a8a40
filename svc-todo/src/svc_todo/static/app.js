// The live character counter (the server enforces the same limit) and live updates by SSE.
(() => {
  const form = document.getElementById("new-todo");
  const input = document.getElementById("todo-text");
  const counter = document.getElementById("counter");
  const error = document.getElementById("form-error");
  const button = document.getElementById("create");
  const limit = Number(form.dataset.limit);

  const characters = () => [...input.value.trim()].length; // code points, like the server
  const update = () => {
    const count = characters();
    const over = count > limit;
    counter.textContent = `${count}/${limit}`;
    counter.classList.toggle("over", over);
    button.disabled = over;
    error.textContent = over ? `Too long: at most ${limit} characters (${count} now).` : "";
  };
  input.addEventListener("input", update);
  form.addEventListener("htmx:beforeRequest", (event) => {
    if (characters() > limit) event.preventDefault();
    else error.textContent = "";
  });
  form.addEventListener("htmx:afterRequest", (event) => {
    if (event.detail.successful && event.detail.xhr.status === 200) { form.reset(); update(); }
  });

  const source = new EventSource("/events");
  source.addEventListener("todos", () => htmx.trigger(document.body, "todos-changed"));
  update();
})();
