// The hash router: one render function for every route change, a sequence number that tells a page
// whether it is still the one on screen, and clean-ups (timers) that run when the page is left.

let render = () => {};
let seq = 0;
const cleanups = [];

/** Render on every hash change (and now); render(hash, seq). */
export function startRouter(fn) {
  render = fn;
  window.addEventListener("hashchange", route);
  return route();
}

/** Render the current hash again (a page's reload). */
export function route() {
  for (const fn of cleanups.splice(0)) fn();
  for (const d of document.querySelectorAll("dialog")) d.close();
  return render(location.hash || "#/apps", ++seq);
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

/** Run `fn` when the current page is left. */
export function onLeave(fn) {
  cleanups.push(fn);
}

/** The page rendered with `s` is still the one on screen. */
export function isCurrent(s) {
  return s === seq;
}
