// The call grid's layout: equal tiles that keep the videos' aspect ratio, as large as the stage allows.
// Pure functions, so the layout is tested without a browser (tests/web/demo/layout.test.js).

/**
 * The grid for `count` tiles in a `width` x `height` box with `gap` between tiles: the number of columns
 * that gives the largest tile of aspect ratio `aspect` (fewer columns on a tie).
 * Returns {cols, rows, tileWidth, tileHeight} in whole pixels.
 */
export function bestGrid(count, width, height, aspect = 4 / 3, gap = 12) {
  const n = Math.max(1, count);
  let best = {cols: 1, rows: n, tileWidth: 0, tileHeight: 0};
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const byWidth = (width - gap * (cols - 1)) / cols;
    const byHeight = ((height - gap * (rows - 1)) / rows) * aspect;
    const tileWidth = Math.floor(Math.max(0, Math.min(byWidth, byHeight)));
    if (tileWidth > best.tileWidth) best = {cols, rows, tileWidth, tileHeight: Math.floor(tileWidth / aspect)};
  }
  return best;
}

/**
 * The aspect ratio most of the cameras have, from their decoded sizes ([[width, height], ...]; unknown
 * sizes are 0), else `fallback`: 4:3, what a webcam gives at the demo's default 480p profile.
 */
export function commonAspect(sizes, fallback = 4 / 3) {
  const votes = new Map();
  for (const [w, h] of sizes) {
    if (!(w > 0 && h > 0)) continue;
    const key = Math.round((w / h) * 100) / 100;
    votes.set(key, (votes.get(key) || 0) + 1);
  }
  let best = fallback;
  let most = 0;
  for (const [aspect, n] of votes) {
    if (n > most) {
      best = aspect;
      most = n;
    }
  }
  return best;
}

/**
 * Where the first tile of the last row starts (1-based, in half columns) so that a short last row is
 * centred: the grid has two half columns per tile column and every tile spans two. 0: the row is full.
 */
export function lastRowStart(count, cols) {
  const rest = count % cols;
  return rest === 0 || count <= cols ? 0 : cols - rest + 1;
}
