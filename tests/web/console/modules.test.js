// The console's modules (src/relayroom/web/console/): every page and library module links (each name a
// module imports is exported where it points), and the pure formatting helpers format.
import assert from 'node:assert/strict';
import {readdirSync} from 'node:fs';
import {describe, test} from 'node:test';

const root = new URL('../../../src/relayroom/web/console/', import.meta.url);

// what the modules touch when they load (the session reads sessionStorage); nothing renders here
globalThis.sessionStorage ??= {getItem: () => null, setItem() {}, removeItem() {}};

describe('modules', () => {
  for (const dir of ['lib', 'pages']) {
    for (const name of readdirSync(new URL(dir, root)).filter((n) => n.endsWith('.js')).sort()) {
      test(`${dir}/${name} links`, async () => {
        await import(new URL(`${dir}/${name}`, root)); // a missing export is a SyntaxError here
      });
    }
  }

  test('every page the router names is a module of its own', () => {
    const pages = readdirSync(new URL('pages', root)).filter((n) => n.endsWith('.js'));
    for (const page of ['apps', 'app', 'live', 'usage', 'oplog', 'privacy', 'credentials', 'users', 'login']) {
      assert.ok(pages.includes(`${page}.js`), page);
    }
  });
});

const f = await import(new URL('lib/format.js', root));

describe('formatting', () => {
  test('times are UTC, from ISO strings or epoch seconds', () => {
    assert.equal(f.fmtTime('2026-03-01T04:05:06Z'), '2026-03-01 04:05:06 UTC');
    assert.equal(f.fmtTime(0), '—');
    assert.equal(f.fmtTime(86400), '1970-01-02 00:00:00 UTC');
    assert.equal(f.fmtTime('not a time'), 'not a time');
  });

  test('durations, minutes, bitrates and loss read naturally', () => {
    assert.deepEqual([f.fmtDuration(1), f.fmtDuration(24), f.fmtDuration(168)], ['1 hour', '24 hours', '7 days']);
    assert.deepEqual([f.fmtMinutes(0.5), f.fmtMinutes(12.34), f.fmtMinutes(1234.5)], ['0.50', '12.3', '1,235']);
    assert.equal(f.fmtKbps(1234567), '1,235 kbps');
    assert.equal(f.fmtKbps(null), null);
    assert.equal(f.fmtLoss(0.0123), '1.2% loss');
    assert.equal(f.trackQuality({width: 640, height: 480, frameRate: 14.6, bitrate: 800000, fractionLost: 0}),
      '640×480 · 15 fps · 800 kbps · 0.0% loss');
  });

  test('tags round-trip between text and objects', () => {
    const tags = f.parseTags('env=prod, team = web ,\nbeta,,');
    assert.deepEqual(tags, {env: 'prod', team: 'web', beta: ''});
    assert.equal(f.tagsText(tags), 'env=prod, team=web, beta');
  });

  test('ids are shortened with an ellipsis; chart maxima are round numbers', () => {
    assert.equal(f.short('0123456789abcdef'), '01234567…');
    assert.equal(f.short('012345678'), '012345678');
    assert.deepEqual([0.7, 3, 12, 240, 999].map(f.niceMax), [1, 5, 20, 250, 1000]);
  });
});
