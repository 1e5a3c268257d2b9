// Small SVG charts drawn here (no library, nothing fetched from elsewhere). Each comes with a
// visually hidden table of its figures for screen readers.
import { h } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 560;
const HEIGHT = 180;
const PAD = { left: 64, right: 12, top: 12, bottom: 28 };

function s(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  for (const child of children.flat())
    if (child) element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return element;
}

/**
 * A line per series over the same x positions (oldest first). `series`: [{ name, values, className }],
 * `labels`: the x labels, `format`: how a y value is written.
 */
export function lineChart({ title, labels, series, format }) {
  const max = Math.max(1, ...series.flatMap((line) => line.values.filter((v) => v !== null)));
  const x = (i) => PAD.left + (labels.length <= 1 ? 0 : (i * (WIDTH - PAD.left - PAD.right)) / (labels.length - 1));
  const y = (v) => HEIGHT - PAD.bottom - (v / max) * (HEIGHT - PAD.top - PAD.bottom);
  const lines = series.map((line) => {
    const points = line.values.map((v, i) => (v === null ? null : [x(i), y(v)])).filter(Boolean);
    // A dot per point as well: a single backup is a point, not a line.
    return [
      s("polyline", {
        points: points.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(" "),
        class: `series ${line.className}`,
        fill: "none",
      }),
      points.map(([px, py]) =>
        s("circle", { cx: px.toFixed(1), cy: py.toFixed(1), r: 3.5, class: `dot ${line.className}` }),
      ),
    ];
  });
  return figure(title, labels, series, format, [...axes(max, labels, format), ...lines.flat(2)], legend(series));
}

/** Bars, one per x position, for one series. */
export function barChart({ title, labels, values, format, className = "bars" }) {
  const max = Math.max(1e-9, ...values.filter((v) => v !== null));
  const slot = (WIDTH - PAD.left - PAD.right) / Math.max(1, values.length);
  const bars = values.map((v, i) => {
    if (v === null) return null;
    const height = (v / max) * (HEIGHT - PAD.top - PAD.bottom);
    return s("rect", {
      x: (PAD.left + i * slot + slot * 0.15).toFixed(1),
      y: (HEIGHT - PAD.bottom - height).toFixed(1),
      width: (slot * 0.7).toFixed(1),
      height: height.toFixed(1),
      class: className,
    });
  });
  return figure(title, labels, [{ name: title, values }], format, [...axes(max, labels, format), ...bars]);
}

function axes(max, labels, format) {
  return [
    s("line", { x1: PAD.left, y1: HEIGHT - PAD.bottom, x2: WIDTH - PAD.right, y2: HEIGHT - PAD.bottom, class: "axis" }),
    s("line", { x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: HEIGHT - PAD.bottom, class: "axis" }),
    s("text", { x: PAD.left - 6, y: PAD.top + 4, "text-anchor": "end", class: "tick" }, format(max)),
    s("text", { x: PAD.left - 6, y: HEIGHT - PAD.bottom, "text-anchor": "end", class: "tick" }, format(0)),
    labels.length ? s("text", { x: PAD.left, y: HEIGHT - 8, class: "tick" }, labels[0]) : null,
    labels.length > 1
      ? s("text", { x: WIDTH - PAD.right, y: HEIGHT - 8, "text-anchor": "end", class: "tick" }, labels.at(-1))
      : null,
  ];
}

function legend(series) {
  return h(
    "ul",
    { class: "legend" },
    series.map((line) =>
      h("li", {}, h("span", { class: `swatch ${line.className}`, "aria-hidden": "true" }), line.name),
    ),
  );
}

function figure(title, labels, series, format, shapes, extra = null) {
  const svg = s("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": title }, shapes);
  const table = h(
    "table",
    { class: "visually-hidden" },
    h("caption", {}, title),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "backup"),
        series.map((line) => h("th", { scope: "col" }, line.name)),
      ),
    ),
    h(
      "tbody",
      {},
      labels.map((label, i) =>
        h(
          "tr",
          {},
          h("th", { scope: "row" }, label),
          series.map((line) => h("td", {}, line.values[i] === null ? "–" : format(line.values[i]))),
        ),
      ),
    ),
  );
  return h("figure", { class: "chart" }, h("figcaption", {}, title), svg, extra, table);
}
