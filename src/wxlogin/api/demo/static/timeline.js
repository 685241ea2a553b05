// The timeline: the phone's own lines, and the server's read from wxlogin dev's event feed.
//
// Lines are kept in the order things happened (by their time, one clock: the page and
// wxlogin dev run on the same machine). Everything is written as text, never as markup:
// feed events carry values a client chose (a user name, a nickname).

const SIDE_LABELS = {
  miniprogram: ['小程序', 'mini program'],
  wxlogin: ['wxlogin', 'server'],
  wechat: ['微信', 'WeChat'],
};
const POLL_MS = 400;
const RETRY_MS = 2000;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function clockTime(ms) {
  const date = new Date(ms);
  const pad = (n, width = 2) => String(n).padStart(width, '0');
  return pad(date.getHours()) + ':' + pad(date.getMinutes()) + ':' + pad(date.getSeconds()) + '.' + pad(date.getMilliseconds(), 3);
}

/**
 * @param {HTMLOListElement} list
 */
export function createTimeline(list) {
  /**
   * @param {{at: number, side: 'miniprogram' | 'wxlogin' | 'wechat', kind: string, title: string, detail?: string, failed?: boolean}} entry  at: ms
   */
  function add(entry) {
    const item = el('li', entry.failed ? 'failed' : '');
    item.dataset.side = entry.side;
    item.dataset.kind = entry.kind;
    item.dataset.at = String(entry.at);
    const time = el('time', '', clockTime(entry.at));
    const [zh, en] = SIDE_LABELS[entry.side] || [entry.side, ''];
    const side = el('span', 'side', zh + ' ');
    side.append(el('span', 'en', en));
    const body = el('span', 'text');
    body.append(el('span', 'title', entry.title));
    if (entry.detail) body.append(el('span', 'detail', entry.detail));
    item.append(time, side, body);
    // Usually the newest line; a server line that arrives by the next poll may belong a
    // little earlier than the phone's latest.
    let after = list.lastElementChild;
    while (after && Number(/** @type {HTMLElement} */ (after).dataset.at) > entry.at) {
      after = after.previousElementSibling;
    }
    if (after) after.after(item);
    else list.prepend(item);
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
    if (atBottom || item === list.lastElementChild) list.scrollTop = list.scrollHeight;
  }

  return {
    add,
    clear() {
      list.replaceChildren();
    },
  };
}

/**
 * Poll GET /demo/events and add the server's lines. The feed answers at once (it never holds
 * a request open), so this asks a few times a second while the page is visible.
 *
 * @param {{add: (entry: any) => void}} timeline
 * @param {(text: string) => void} showState
 * @param {number} last  where the feed stood when the page loaded: older events are not ours
 */
export function followServer(timeline, showState, last) {
  async function poll() {
    let delay = POLL_MS;
    if (document.visibilityState === 'visible') {
      try {
        const answer = await fetch('/demo/events?after=' + last, { cache: 'no-store' });
        if (!answer.ok) throw new Error('HTTP ' + answer.status);
        const page = await answer.json();
        if (page.last < last) {
          // wxlogin dev was restarted: its numbering began again.
          showState('服务端已重启 the server restarted; following its new events');
        } else if (page.missed > 0) {
          showState(page.missed + ' server events were too old to show');
        } else {
          showState('');
        }
        for (const event of page.events) {
          timeline.add({ at: event.at * 1000, side: event.side, kind: event.kind, title: event.title, detail: event.detail });
        }
        last = page.last;
      } catch (error) {
        showState('服务端事件暂不可用 server events unavailable: ' + (error && error.message));
        delay = RETRY_MS;
      }
    }
    setTimeout(poll, delay);
  }

  poll();
}
