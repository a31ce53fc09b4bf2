// Keyboard shortcuts: a key clicks the button or link marked data-shortcut="key" on the page
// (Same person s, Different people d, Skip k, Undo u), unless the user is typing in a field.
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const typing = event.target.closest("input, textarea, select, [contenteditable]");
  if (typing) return;
  const target = document.querySelector(`[data-shortcut="${CSS.escape(event.key.toLowerCase())}"]`);
  if (target) {
    event.preventDefault();
    target.click();
  }
});
