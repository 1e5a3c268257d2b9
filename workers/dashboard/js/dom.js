// A small element builder: text goes in as text nodes, never as HTML, so names of objects and
// messages from the API cannot inject markup.

/** h("a", { href: "#/x", onclick }, "text", child, [more]) */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the element's content. */
export function render(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** A labelled form field: the label names the control for screen readers. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    hint ? h("small", { class: "hint" }, hint) : null,
  );
}

/** A message region that screen readers announce when it changes. */
export function notice(kind, text) {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** A table's head: one row of column titles. */
export function tableHead(titles) {
  return h(
    "thead",
    {},
    h(
      "tr",
      {},
      titles.map((title) => h("th", { scope: "col" }, title)),
    ),
  );
}

/**
 * A button that runs one API call then reloads the view; a refusal is shown in `region` (an
 * aria-live element next to it) instead of being lost.
 */
export function actionButton(label, call, reload, region) {
  return h(
    "button",
    {
      type: "button",
      onclick: async () => {
        try {
          await call();
          await reload();
        } catch (error) {
          render(region, notice("error", error.message));
        }
      },
    },
    label,
  );
}
