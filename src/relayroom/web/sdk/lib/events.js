// The event emitter behind on/once/off. A listener that throws is the application's bug: it is
// re-thrown on a fresh task (so the browser reports it) and never breaks the SDK or the other listeners.

const rethrowLater = (e) => setTimeout(() => { throw e; });

export class Emitter {
  /** report(error): what happens to a listener's exception (default: re-thrown on a fresh task). */
  constructor(report = rethrowLater) {
    this._listeners = new Map(); // event -> [{handler, context, once}]
    this._report = report;
  }

  on(event, handler, context, once = false) {
    if (!this._listeners.has(event)) this._listeners.set(event, []);
    this._listeners.get(event).push({handler, context, once});
  }

  /** Remove `handler` (or every handler of `event`; `off('*')` removes all). */
  off(event, handler) {
    if (event === '*') {
      this._listeners.clear();
      return;
    }
    const list = this._listeners.get(event);
    if (!list) return;
    if (handler === undefined) this._listeners.delete(event);
    else this._listeners.set(event, list.filter((l) => l.handler !== handler));
  }

  hasListeners(event) {
    const list = this._listeners.get(event);
    return !!(list && list.length);
  }

  emit(event, data) {
    const list = this._listeners.get(event);
    if (!list || list.length === 0) return;
    for (const l of [...list]) {
      if (l.once) this.off(event, l.handler);
      try {
        l.handler.call(l.context, data);
      } catch (e) {
        this._report(e);
      }
    }
  }

  clear() {
    this._listeners.clear();
  }
}
