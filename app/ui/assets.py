"""The UI's stylesheet and its few lines of browser script (keyboard, scrolling, actions)."""

from __future__ import annotations

from typing import Final

#: Runs once when the page loads: Esc stops, ←/→ swipe the last reply, and the chat
#: stays scrolled to the bottom while the user has not scrolled up.
PAGE_JS: Final = """
() => {
  const chatInput = () => document.querySelector('#parlor-input textarea');
  const typing = (el) => el && (el.tagName === 'TEXTAREA' || el.tagName === 'INPUT'
    || el.tagName === 'SELECT' || el.isContentEditable);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      const stop = document.querySelector('#parlor-stop');
      if (stop && stop.offsetParent !== null) { stop.click(); }
      return;
    }
    if (event.key !== 'ArrowLeft' && event.key !== 'ArrowRight') { return; }
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) { return; }
    const el = document.activeElement;
    if (typing(el) && !(el === chatInput() && el.value === '')) { return; }
    const chat = document.querySelector('#parlor-chat');
    if (!chat || chat.offsetParent === null) { return; }
    const last = chat.querySelector('.chat > .msg:last-child');
    const button = last && last.classList.contains('msg-assistant') && last.querySelector(
      event.key === 'ArrowLeft' ? '.swipe-prev' : '.swipe-next');
    if (button && !button.disabled) { event.preventDefault(); button.click(); }
  });
  const follow = () => {
    const box = document.querySelector('#parlor-scroll');
    if (!box) { setTimeout(follow, 200); return; }
    let pinned = true;
    let shown = null;
    box.addEventListener('scroll', () => {
      pinned = box.scrollTop + box.clientHeight >= box.scrollHeight - 80;
    });
    new MutationObserver(() => {
      const chat = box.querySelector('.chat[data-chat-id]');
      const id = chat ? chat.dataset.chatId : null;
      if (id !== shown) { shown = id; pinned = true; }
      if (pinned) { box.scrollTop = box.scrollHeight; }
    }).observe(box, {childList: true, subtree: true, characterData: true});
  };
  follow();
}
"""

#: The chat pane's fixed template: the script below fills the host, so Gradio never
#: diffs (or clones) a long chat's markup.
CHAT_TEMPLATE: Final = '<div class="chat-host"></div>'

#: ``js_on_load`` of the chat pane: apply each patch the server sends (replace all, or
#: keep the first ``keep`` messages and replace the rest), and turn a click on a message
#: control into one event ``act:message_id[:direction]``.
CHAT_ACTIONS_JS: Final = """
const host = element.querySelector('.chat-host') || element;
const titles = {edit: 'Edit', branch: 'Branch into a new chat from here', delete: 'Delete',
  prev: 'Previous alternative', next: 'Next alternative (a new one after the last)',
  reasoning: 'Edit or delete the reasoning'};
let applied = null;
const setMore = (chat, more) => {
  const button = chat.querySelector(':scope > .chat-earlier');
  if (!button) { return; }
  button.hidden = !more;
  button.textContent = `Show earlier messages (${more} more)`;
};
const apply = () => {
  const v = props.value;
  if (!v || typeof v !== 'object' || v === applied) { return; }
  applied = v;
  if (v.reset) {
    host.innerHTML = v.html;
    const fresh = host.querySelector(':scope > .chat');
    if (fresh) { setMore(fresh, v.more); }
    const target = v.focus && host.querySelector(`[data-message-id="${v.focus}"]`);
    if (target) {
      target.classList.add('msg-focus');
      requestAnimationFrame(() => target.scrollIntoView({block: 'center'}));
    }
    return;
  }
  const chat = host.querySelector(':scope > .chat');
  if (!chat || chat.dataset.chatId !== String(v.chat)) {
    host.innerHTML = '<div class="chat-empty">Reload the page to show this chat.</div>';
    return;
  }
  if (v.prepend !== undefined) {
    const box = document.querySelector('#parlor-scroll');
    const height = box ? box.scrollHeight : 0;
    chat.querySelector(':scope > .chat-earlier').insertAdjacentHTML('afterend', v.prepend);
    if (box) { box.scrollTop += box.scrollHeight - height; }
  } else {
    const shown = chat.querySelectorAll(':scope > .msg, :scope > .chat-empty');
    for (let i = shown.length - 1; i >= v.keep; i--) { shown[i].remove(); }
    chat.insertAdjacentHTML('beforeend', v.tail);
  }
  setMore(chat, v.more);
};
watch('value', apply);
apply();
element.addEventListener('mouseover', (event) => {
  const button = event.target.closest && event.target.closest('[data-act]');
  if (button && !button.title) { button.title = titles[button.dataset.act] || ''; }
});
element.addEventListener('click', (event) => {
  const button = event.target.closest('[data-act]');
  if (!button || !element.contains(button) || button.disabled) { return; }
  event.preventDefault();
  if (button.dataset.act === 'earlier') { trigger('click', {action: 'earlier:0'}); return; }
  const message = button.closest('[data-message-id]');
  if (!message) { return; }
  const id = message.dataset.messageId;
  const act = button.dataset.act;
  const action = act === 'prev' ? `swipe:${id}:-1` : act === 'next' ? `swipe:${id}:1`
    : `${act}:${id}`;
  trigger('click', {action: action});
});
"""

#: ``js_on_load`` of the character grid: a click on a tile selects that character.
GRID_JS: Final = """
element.addEventListener('click', (event) => {
  const tile = event.target.closest('[data-character-id]');
  if (!tile || !element.contains(tile)) { return; }
  trigger('click', {character_id: tile.dataset.characterId});
});
"""

#: JS run when the hidden location box changes: keep the URL in step with the screen.
LOCATION_JS: Final = """
(query) => {
  if (query && query !== window.location.search) {
    history.replaceState(null, '', window.location.pathname + query);
  }
  return [];
}
"""

CSS: Final = """
#parlor-scroll { height: calc(100vh - 330px); min-height: 320px; overflow-y: auto;
  display: block; border: 1px solid var(--border-color-primary); border-radius: 8px; }
#parlor-scroll > * { margin: 0; }
.chat { display: flex; flex-direction: column; }
.chat .msg { display: flex; gap: 10px; padding: 10px 12px;
  border-bottom: 1px solid var(--border-color-primary);
  content-visibility: auto; contain-intrinsic-size: auto 110px; }
.chat.live .msg { content-visibility: visible; }
.chat .msg-user { background: var(--background-fill-secondary); }
.chat .msg.msg-focus { outline: 2px solid var(--color-accent); outline-offset: -2px;
  background: var(--color-accent-soft); }
.chat .msg-avatar { width: 42px; height: 42px; flex: none; border-radius: 50%;
  background-color: var(--neutral-300); background-position: center;
  background-size: cover; background-repeat: no-repeat; }
.chat .msg-main { flex: 1; min-width: 0; }
.chat .msg-head { display: flex; justify-content: space-between; align-items: center; }
.chat .msg-name { font-weight: 600; }
.chat .msg-tools { opacity: 0.35; }
.chat .msg:hover .msg-tools { opacity: 1; }
.chat .msg-tools button, .chat .swipes button { background: none; border: none;
  box-shadow: none; cursor: pointer; padding: 0 6px; font-size: 1em; min-width: 0;
  color: var(--body-text-color); }
.chat .swipes button[disabled] { opacity: 0.25; cursor: default; }
.chat .msg-reasoning { margin: 2px 0 6px; padding-left: 8px; font-size: 0.92em;
  border-left: 3px solid var(--border-color-primary); color: var(--body-text-color-subdued); }
.chat .msg-reasoning summary { cursor: pointer; font-style: italic; }
.chat .msg-reasoning .reasoning-edit { background: none; border: none; box-shadow: none;
  cursor: pointer; padding: 0 6px; min-width: 0; opacity: 0.5; color: var(--body-text-color); }
.chat .reasoning-body { overflow-wrap: anywhere; }
.chat .reasoning-body p { margin: 0 0 0.4em 0; }
.chat .msg-body { overflow-wrap: anywhere; line-height: 1.5; }
.chat .msg-body p { margin: 0 0 0.5em 0; }
.chat .msg-body em { color: var(--body-text-color-subdued); }
.chat .msg-body img { max-width: 100%; }
.chat .rp-speech { color: #c2410c; }
.dark .chat .rp-speech { color: #fdba74; }
.chat .msg-foot { display: flex; gap: 12px; align-items: center; font-size: 0.85em;
  color: var(--body-text-color-subdued); min-height: 1.2em; }
.chat .msg-info summary { cursor: pointer; list-style: none; display: inline-block;
  width: 1.2em; height: 1.2em; line-height: 1.2em; text-align: center; border-radius: 50%;
  border: 1px solid currentColor; font-size: 0.8em; font-style: italic; font-family: serif; }
.chat .msg-info summary::-webkit-details-marker { display: none; }
.chat .msg-info[open] { display: flex; gap: 6px; align-items: center; }
.chat .msg-stopped .msg-foot::after { content: "stopped"; font-style: italic; }
.chat .typing::after { content: "▍"; animation: parlor-blink 1s steps(2) infinite; }
.chat-empty { padding: 24px; color: var(--body-text-color-subdued); }
.chat-earlier[hidden] { display: none; }
.chat-earlier { margin: 8px auto; padding: 4px 12px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-secondary); }
@keyframes parlor-blink { 50% { opacity: 0; } }
.chat-header { font-size: 1.1em; }
.chat-header .chat-title { color: var(--body-text-color-subdued); }
.meter { display: flex; gap: 8px; align-items: center; justify-content: flex-end;
  font-size: 0.9em; }
.meter progress { width: 140px; }
.status-error { color: #b91c1c; }
.report ul { margin: 0; padding-left: 1.2em; }
.card-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(130px, 1fr));
  gap: 10px; max-height: 60vh; overflow-y: auto; }
.card-tile { cursor: pointer; border: 1px solid var(--border-color-primary);
  border-radius: 8px; padding: 6px; text-align: center; }
.card-tile.selected { outline: 2px solid var(--color-accent); }
.card-tile img, .card-tile .no-avatar { width: 100%; aspect-ratio: 1; object-fit: cover;
  border-radius: 6px; background: var(--neutral-200); display: block; }
.card-tile .tile-name { font-weight: 600; margin-top: 4px; }
.card-tile .tile-tags { font-size: 0.8em; color: var(--body-text-color-subdued); }
"""
