// The colours of the pack's status tones (format.js's stateTone: busy, ok, error, idle; panel lines:
// detail, price, warn), defined once for the node panel, the history tab and the canvas fallback.
// DOM text follows the frontend's theme where it has a variable for the tone; the canvas cannot read
// CSS variables, so CANVAS_TONES holds the same colours as plain hex.

const HEX = {
  busy: "#8fb8ff",
  ok: "#7fd17f",
  error: "#ff8a80",
  idle: "#bbbbbb",
  detail: "#bbbbbb",
  price: "#e8c46a",
  warn: "#f0b060",
};

const THEME_VARIABLE = { error: "--error-text", idle: "--descrip-text", detail: "--descrip-text" };

/** tone -> CSS colour for DOM styles (a theme variable with the hex as its fallback, or the hex). */
export const TONES = Object.freeze(Object.fromEntries(Object.entries(HEX).map(
  ([tone, hex]) => [tone, THEME_VARIABLE[tone] ? `var(${THEME_VARIABLE[tone]}, ${hex})` : hex])));

/** tone -> plain hex colour, for canvas drawing. */
export const CANVAS_TONES = Object.freeze({ ...HEX });
