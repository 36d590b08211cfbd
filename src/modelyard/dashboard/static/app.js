// The shell: navigation from /ui/api/info, and a hash router that loads one page module
// (static/pages/<name>.js) and calls its render(root, route). A page may return
// {leave()} to stop its timers when another page is opened.
import { api, clear, disposeCharts, h, hasApiKey, keyForm, needsKey, setApiKey, showError } from "./lib.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
let info = null;
let current = null;
let generation = 0;

async function start() {
  try {
    info = await api("info");
  } catch (error) {
    clear(main);
    if (needsKey(error)) main.append(keyForm(error.message, start));
    else showError(main, error);
    return;
  }
  clear(nav).append(...info.pages.map((p) => h("a", { href: `#/${p.name}`, "data-page": p.name }, p.title)));
  const meta = document.getElementById("meta");
  meta.textContent = `${info.workspace} · v${info.version}${info.live ? " · live server metrics" : ""}`;
  meta.title = info.workspace;
  const forget = document.getElementById("key-button");
  forget.hidden = !hasApiKey();
  forget.addEventListener("click", () => {
    setApiKey(null);
    location.reload();
  });
  window.addEventListener("hashchange", route);
  route();
}

/** ``#/page/part/part?query``, parts decoded. */
export function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, search] = raw.split("?", 2);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || info.pages[0].name, parts: parts.slice(1), query: new URLSearchParams(search || "") };
}

async function route() {
  const mine = ++generation;
  const where = parseHash();
  current?.leave?.();
  current = null;
  disposeCharts();
  for (const a of nav.querySelectorAll("a")) a.classList.toggle("active", a.dataset.page === where.page);
  const page = info.pages.find((p) => p.name === where.page);
  const root = h("div", { class: "page", "data-page": where.page });
  clear(main).append(root);
  if (!page) {
    root.append(h("div", { class: "error" }, `There is no page ${where.page}.`));
    return;
  }
  document.title = `${page.title} · modelyard`;
  try {
    const module = await import(`./pages/${page.name}.js`);
    if (mine !== generation) return;
    current = (await module.render(root, where)) || null;
  } catch (error) {
    if (mine !== generation) return;
    showError(root, error, route);
  }
}

start();
