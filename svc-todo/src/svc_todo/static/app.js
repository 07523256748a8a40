// The live character counter, which warns when few characters remain (the server enforces the
// limit), and live updates by SSE.
(() => {
  const form = document.getElementById("new-todo");
  const input = document.getElementById("todo-text");
  const counter = document.getElementById("counter");
  const error = document.getElementById("form-error");
  const button = document.getElementById("create");
  const warning = document.getElementById("counter-warning");
  const limit = Number(form.dataset.limit);
  const warnBelow = Number(form.dataset.warnBelow); // characters left when the warning starts

  const characters = () => [...input.value.trim()].length; // code points, like the server
  const update = () => {
    const count = characters();
    const left = limit - count;
    const over = left < 0;
    const near = !over && left < warnBelow;
    counter.textContent = `${count}/${limit}`;
    counter.classList.toggle("near", near);
    counter.classList.toggle("over", over);
    warning.textContent = near ? `${left} ${left === 1 ? "character" : "characters"} left` : "";
    input.setAttribute("aria-invalid", String(over));
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
