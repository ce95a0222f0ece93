// Behaviour every page shares. Inline handlers are refused by the Content-Security-Policy, so
// they live here.
//
// A select marked data-submit-on-change submits its form when picked with the pointer. From
// the keyboard, the arrow keys change a closed select one option at a time, and submitting on
// each would reload the page per option: there the choice waits for Enter or the form's
// visible "Show" button.
for (const select of document.querySelectorAll("select[data-submit-on-change]")) {
  let fromKeyboard = false;
  select.addEventListener("keydown", (event) => {
    fromKeyboard = true;
    if (event.key === "Enter") {
      event.preventDefault();
      select.form.requestSubmit();
    }
  });
  select.addEventListener("pointerdown", () => { fromKeyboard = false; });
  select.addEventListener("change", () => { if (!fromKeyboard) select.form.requestSubmit(); });
}
