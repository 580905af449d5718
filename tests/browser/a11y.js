// What a reader with a screen reader, a keyboard or weak eyes meets on the page in the browser:
// returns a list of problems (empty when none). Used by tests/test_browser.py.
() => {
  const problems = [];
  const h1 = document.querySelectorAll("h1").length;
  if (h1 !== 1) problems.push(`${h1} h1 elements`);
  if (document.documentElement.lang !== "vi") problems.push(`lang="${document.documentElement.lang}"`);
  if (!document.title.trim()) problems.push("no title");
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    const named = (el.labels && el.labels.length) || el.getAttribute("aria-label")
      || el.getAttribute("aria-labelledby");
    if (!named) problems.push(`no label: ${el.tagName.toLowerCase()}#${el.id}`);
  }
  for (const el of document.querySelectorAll("a[href], button")) {
    if (!el.innerText.trim() && !el.getAttribute("aria-label")) {
      problems.push(`no text: ${el.outerHTML.slice(0, 80)}`);
    }
  }
  for (const svg of document.querySelectorAll("svg")) {
    // A figure's caption names it (the unit page's QR code is one).
    const captioned = svg.closest("figure") && svg.closest("figure").querySelector("figcaption");
    const hidden = svg.closest("[aria-hidden=true]") || captioned;
    const named = svg.getAttribute("aria-label") || svg.getAttribute("aria-labelledby")
      || svg.querySelector("title");
    if (!hidden && !named) problems.push("svg with no text alternative");
  }
  // Contrast (WCAG 2.x): 4.5:1 for text, 3:1 for large text (24px, or 18.66px bold).
  const channels = (s) => (s.match(/[\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = channels(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || !el || seen.has(el)) continue;
    seen.add(el);
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (style.visibility === "hidden" || box.width === 0 || box.height === 0) continue;
    if (box.right < 0 || box.bottom < 0) continue;  // moved off screen (a skip link)
    const fg = channels(style.color).slice(0, 3);
    const [a, b] = [luminance(fg), luminance(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      problems.push(`contrast ${ratio.toFixed(2)}: "${node.textContent.trim().slice(0, 40)}"`);
    }
  }
  return problems;
}
