// Behaviour every page shares. Inline handlers are refused by the Content-Security-Policy, so
// they live here: a select marked data-submit-on-change submits its form when changed.
for (const select of document.querySelectorAll("select[data-submit-on-change]")) {
  select.addEventListener("change", () => select.form.submit());
}
