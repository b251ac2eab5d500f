"""The captions page itself: one HTML document for a kiosk browser in full-screen mode.

Large text, high contrast (white and yellow on black), the state in the corner, and the
configured language label and font size. Captions arrive by Server-Sent Events and are set with
``textContent``, never as HTML, so nothing a visitor says can become markup.
"""

from __future__ import annotations

import html

from edgevoice.config.screen import CaptionsConfig

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Captions</title>
<style>
html, body { margin: 0; height: 100%; background: #000; color: #fff; font-family: "DejaVu Sans", system-ui, sans-serif; }
body { display: flex; flex-direction: column; font-size: __SIZE__px; }
header { display: flex; gap: 1em; align-items: center; padding: 0.3em 0.8em; font-size: 0.55em; background: #111; border-bottom: 2px solid #444; }
#title { flex: 1; font-weight: bold; }
#language { color: #ccc; }
#state { font-weight: bold; padding: 0.1em 0.6em; border-radius: 0.3em; background: #fff; color: #000; }
#state[data-state="listening"], #state[data-state="follow_up"] { background: #0c0; }
#state[data-state="thinking"] { background: #ffd400; }
#state[data-state="offline"], #state[data-state="error"], #state[data-state="disconnected"] { background: #f33; color: #fff; }
main { flex: 1; overflow: hidden; display: flex; flex-direction: column; justify-content: flex-end; padding: 0 0.8em 0.4em; line-height: 1.25; }
.line { margin: 0.25em 0; }
.who { font-size: 0.5em; display: block; color: #aaa; }
.user .text { color: #ffd400; }
.assistant .text { color: #fff; }
.partial .text { opacity: 0.85; }
.cut .text::after { content: " \\2014"; color: #aaa; }
</style></head>
<body>
<header><span id="title">__TITLE__</span><span id="language">__LANGUAGE__</span><span id="state" data-state="connecting">connecting</span></header>
<main id="lines" aria-live="polite"></main>
<script>
"use strict";
const lines = document.getElementById("lines"), state = document.getElementById("state");
function show(view) {
  state.textContent = view.label;
  state.dataset.state = view.state;
  lines.replaceChildren(...view.lines.map((l) => {
    const p = document.createElement("p"), who = document.createElement("span"), text = document.createElement("span");
    p.className = "line " + l.role + (l.final ? "" : " partial") + (l.cut ? " cut" : "");
    p.dataset.role = l.role;
    who.className = "who";
    who.textContent = l.role === "user" ? "Visitor" : "Assistant";
    text.className = "text";
    text.textContent = l.text;
    p.append(who, text);
    return p;
  }));
}
const source = new EventSource("events");
source.onmessage = (e) => show(JSON.parse(e.data));
source.onerror = () => { state.textContent = "reconnecting"; state.dataset.state = "disconnected"; };
</script>
</body></html>
"""


def captions_page(config: CaptionsConfig) -> str:
    """The page for ``config`` (its texts escaped)."""
    return (_PAGE.replace("__SIZE__", str(int(config.font_size_px)))
            .replace("__TITLE__", html.escape(config.title))
            .replace("__LANGUAGE__", html.escape(config.language)))
