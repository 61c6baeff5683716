// The page's two views as tabs: Identify and People ("#people" in the address opens People).
const tabs = [...document.querySelectorAll("nav [role=tab]")];

function show(tab, onShow) {
  for (const other of tabs) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
  }
  onShow(tab.getAttribute("aria-controls"));
}

function tabOfAddress() {
  const wanted = `${window.location.hash.slice(1)}-view`;
  return tabs.find((tab) => tab.getAttribute("aria-controls") === wanted) || tabs[0];
}

// Show the view the address names; `onShow(viewId)` runs each time a view is shown.
export function startViews(onShow) {
  for (const tab of tabs) {
    tab.addEventListener("click", () => {
      window.location.hash = tab.getAttribute("aria-controls").replace(/-view$/, "");
    });
  }
  window.addEventListener("hashchange", () => show(tabOfAddress(), onShow));
  show(tabOfAddress(), onShow);
}
