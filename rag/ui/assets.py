"""The chat page's styling and its one script (plain strings; ``rag.ui.app`` passes them to Gradio)."""

CSS = """
#sources-panel { max-height: 70vh; overflow-y: auto; }
#sources-panel .turn { display: none; }
#sources-panel .turn.shown { display: block; }
.src { border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 10px; margin: 0 0 10px 0; }
.src.active, .src:focus { outline: 3px solid #0969da; }
.src .meta { font-size: 0.85em; color: #57606a; margin-bottom: 4px; }
.src .context { white-space: pre-wrap; line-height: 1.45; }
.src mark { background: #fff3a3; padding: 0 1px; }
.src.active mark { background: #ffd33d; }
.cite { text-decoration: none; font-weight: 600; }
.refusal { font-style: italic; color: #6e4b00; }
.nearest { margin-top: .4em; font-size: .92em; color: #444; }
.nearest-label { font-weight: 600; }
.nearest .where { color: #777; font-size: .9em; }
.error-msg { color: #b42318; }
.empty-note { color: #57606a; font-style: italic; }
.src .gloss { margin-top: 6px; padding: 4px 6px; border-left: 3px solid #8250df; background: #f6f2ff; }
.src .gloss-label { font-size: 0.85em; font-weight: 600; color: #6639ba; }
.compare .cmp-sources { display: flex; flex-wrap: wrap; gap: 10px; }
.compare .cmp-source { flex: 1 1 260px; border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 10px; }
.compare .cmp-source.silent { background: #f6f8fa; }
.compare .cmp-head { margin-bottom: 6px; }
.compare .cmp-meta, .compare .cmp-also { font-size: 0.85em; color: #57606a; }
.compare .cmp-silent { font-style: italic; color: #57606a; }
.compare .cmp-points h4 { margin: 10px 0 4px 0; }
#chat-notice .notice { color: #1a7f37; }
"""

# Citation links: show that turn's sources, highlight and focus the cited one. Plain DOM, no framework.
JS = """
<script>
(() => {
  function openCitation(turn, marker) {
    const panel = document.getElementById('sources-panel');
    if (!panel) return false;
    panel.querySelectorAll('.turn').forEach(t => t.classList.toggle('shown', t.dataset.turn === turn));
    panel.querySelectorAll('.src.active').forEach(s => s.classList.remove('active'));
    const target = document.getElementById('src-' + turn + '-' + marker);
    if (!target) return false;
    target.classList.add('active');
    target.scrollIntoView({block: 'nearest'});
    target.focus({preventScroll: true});
    return true;
  }
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a[href^="#src-"]');
    if (!link) return;
    const m = /^#src-(\\d+)-(\\d+)$/.exec(link.getAttribute('href') || '');
    if (!m) return;
    event.preventDefault();
    event.stopPropagation();
    openCitation(m[1], m[2]);
  }, true);
})();
</script>
"""
