// The demo's call grid (src/relayroom/web/demo/layout.js): tiles keep the cameras' aspect ratio and
// are as large as the stage allows.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {bestGrid, commonAspect, lastRowStart} from '../../../src/relayroom/web/demo/layout.js';

// the stage of the demo at 1280x800: the window less the top bar, the controls, the chat and padding
const W = 952;
const H = 634;

test('two people side by side in landscape tiles, not two tall portrait ones', () => {
  const g = bestGrid(2, W, H, 4 / 3, 12);
  assert.deepEqual([g.cols, g.rows], [2, 1]);
  assert.ok(g.tileWidth > g.tileHeight);
  assert.equal(g.tileWidth, 470);
  assert.equal(g.tileHeight, Math.floor(470 / (4 / 3)));
});

test('tiles fit the stage for every count, and keep the aspect ratio', () => {
  for (const aspect of [4 / 3, 16 / 9]) {
    for (let n = 1; n <= 16; n++) {
      const g = bestGrid(n, W, H, aspect, 12);
      assert.equal(g.rows, Math.ceil(n / g.cols), `${n}: ${g.cols}x${g.rows}`);
      assert.ok(g.cols * g.tileWidth + (g.cols - 1) * 12 <= W, `${n} too wide`);
      assert.ok(g.rows * g.tileHeight + (g.rows - 1) * 12 <= H, `${n} too tall`);
      assert.ok(Math.abs(g.tileWidth / g.tileHeight - aspect) < 0.02, `${n} aspect ${g.tileWidth}x${g.tileHeight}`);
    }
  }
});

test('the column count is the one with the largest tiles', () => {
  // a tall narrow stage stacks; a wide one lines up
  assert.equal(bestGrid(2, 400, 900, 4 / 3).cols, 1);
  assert.equal(bestGrid(3, 1900, 400, 4 / 3).cols, 3);
  assert.equal(bestGrid(4, W, H, 4 / 3).cols, 2);
  // no room at all gives empty tiles, not negative ones
  assert.deepEqual(bestGrid(3, 0, 0), {cols: 1, rows: 3, tileWidth: 0, tileHeight: 0});
});

test('the aspect ratio is the one most cameras have; unknown sizes do not vote', () => {
  assert.equal(commonAspect([]), 4 / 3);
  assert.equal(commonAspect([[0, 0], [640, 480]]), 1.33);
  assert.equal(commonAspect([[1280, 720], [640, 360], [640, 480]]), 1.78);
  assert.equal(commonAspect([[0, 0]], 16 / 9), 16 / 9);
});

test('a short last row starts so that it is centred', () => {
  assert.equal(lastRowStart(3, 2), 2); // one tile under two: half a column in
  assert.equal(lastRowStart(7, 3), 3); // one under three: one column in
  assert.equal(lastRowStart(5, 3), 2); // two under three
  assert.equal(lastRowStart(4, 2), 0);
  assert.equal(lastRowStart(1, 1), 0);
  assert.equal(lastRowStart(2, 3), 0); // a single row is centred by the grid itself
});
