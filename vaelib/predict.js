/* Predict, then see (vaelib/predict.py): a question before a result, its answer after it.
 *
 * The question's block keeps the reader's choice in localStorage under its prompt id, so the
 * answer's block further down the page (or the same page tomorrow) can read it; where storage is
 * blocked (a sandboxed frame, some private windows) the choice lives in memory for this visit.
 * The answer's block says whether the choice was right; until there is one, it asks for one and
 * offers to show the answer anyway. Every block on a page shares this code: it defines
 * window.vaelibPredict once.
 */
(function () {
  "use strict";
  if (window.vaelibPredict) return;

  const PREFIX = "vaelib-predict:";
  const CHANGED = "vaelib-predict-change";
  const memory = {};

  function load(id) {
    try {
      const value = window.localStorage.getItem(PREFIX + id);
      if (value !== null) return value;
    } catch (e) { /* storage blocked: the copy in memory is all there is */ }
    return Object.prototype.hasOwnProperty.call(memory, id) ? memory[id] : null;
  }

  function save(id, key) {
    memory[id] = key;
    try { window.localStorage.setItem(PREFIX + id, key); } catch (e) { /* kept in memory only */ }
  }

  function settings(root) {
    return JSON.parse(root.querySelector("script.vaelib-predict-data").textContent);
  }

  function mountAsk(root, data) {
    const status = root.querySelector(".vaelib-predict-status");
    const inputs = Array.from(root.querySelectorAll("input[type=radio]"));
    const say = (key) => {
      status.textContent = `Your prediction: (${key}). It is kept in this browser; the answer comes after the result below.`;
    };
    const saved = load(data.id);
    inputs.forEach((input) => {
      if (input.value === saved) { input.checked = true; say(saved); }
      // Arrow keys move the choice and fire "change" as a click does; Space picks the focused one.
      input.addEventListener("change", () => {
        if (!input.checked) return;
        save(data.id, input.value);
        say(input.value);
        window.dispatchEvent(new CustomEvent(CHANGED, { detail: { id: data.id } }));
      });
    });
  }

  function mountReveal(root, data) {
    const verdict = root.querySelector(".vaelib-predict-verdict");
    const button = root.querySelector(".vaelib-predict-anyway");
    const announce = root.querySelector(".vaelib-predict-announce");
    // The disclosure is for pages without this script; here a plain box, shown when it is time.
    const details = root.querySelector("details.vaelib-predict-answer");
    const answer = document.createElement("div");
    answer.className = "vaelib-predict-answer";
    answer.tabIndex = -1;  // focus lands here when "show the answer anyway" is pressed
    Array.from(details.childNodes).forEach((node) => {
      if (node.nodeName !== "SUMMARY") answer.appendChild(node);
    });
    details.replaceWith(answer);
    verdict.hidden = false;
    let anyway = false;

    function update() {
      const choice = load(data.id);
      const valid = choice !== null && (!data.choices || Object.prototype.hasOwnProperty.call(data.choices, choice));
      if (valid && choice === data.answer) {
        verdict.textContent = `You chose ${choice}: right.`;
      } else if (valid) {
        verdict.textContent = `You chose ${choice}; the run says ${data.answer}, because:`;
      } else if (anyway) {
        verdict.textContent = `You have not chosen; the run says ${data.answer}, because:`;
      } else {
        verdict.textContent = "Choose an answer to the question above first: the answer stays hidden until you do.";
      }
      const open = valid || anyway;
      answer.hidden = !open;
      button.hidden = open;
      root.dataset.state = !open ? "waiting" : valid ? (choice === data.answer ? "right" : "wrong") : "shown";
    }

    button.addEventListener("click", () => {
      anyway = true;
      update();
      answer.focus();  // the button is gone; keep the keyboard where the answer is
      announce.textContent = `${verdict.textContent} ${answer.textContent}`.replace(/\s+/g, " ").trim();
    });
    window.addEventListener(CHANGED, (event) => { if (event.detail.id === data.id) update(); });
    window.addEventListener("storage", (event) => { if (event.key === PREFIX + data.id) update(); });
    update();
  }

  function mount(root) {
    if (!root || root.dataset.ready) return;
    const data = settings(root);
    if (root.classList.contains("vaelib-predict-ask")) mountAsk(root, data);
    else mountReveal(root, data);
    root.dataset.ready = "1";
  }

  window.vaelibPredict = { mount, load, save };
})();
