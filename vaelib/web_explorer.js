/* The kernel-free latent explorer of the VAE course (see vaelib/web_explorer.py).
 *
 * Each explorer block carries its decoder as JSON: linear layers with float16 weights and
 * float32 biases, ReLU between layers, a sigmoid at the end. Moving a slider (or
 * clicking a label or the map) decodes the new code here and draws the image on the canvas.
 * Every explorer on a page shares this code; it defines window.vaelibExplorer once.
 */
(function () {
  "use strict";
  if (window.vaelibExplorer) return;

  function bytes(b64) {
    const text = atob(b64);
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }
  // Typed views on little-endian data (every browser platform in use is little-endian).
  const float32 = (b64) => new Float32Array(bytes(b64).buffer);

  // IEEE half-precision bits -> number, exactly (sign, 5-bit exponent, 10-bit fraction).
  function halfToNumber(bits) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const fraction = bits & 0x3ff;
    if (exponent === 0) return sign * fraction * 2 ** -24;          // zero and subnormals
    if (exponent === 31) return fraction ? NaN : sign * Infinity;
    return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }

  function float16(b64) {
    const halves = new Uint16Array(bytes(b64).buffer);
    const out = new Float32Array(halves.length);  // every float16 is exact in float32
    for (let i = 0; i < halves.length; i++) out[i] = halfToNumber(halves[i]);
    return out;
  }

  function loadLayers(spec) {
    return spec.map((l) => ({ rows: l.rows, cols: l.cols, weight: float16(l.weight16), bias: float32(l.bias) }));
  }

  // code (D numbers) and label -> image (C*H*W numbers in [0, 1]), the same arithmetic as
  // DecoderExport.decode in Python: h <- relu(W h + b) per layer, sigmoid after the last.
  function decode(model, code, label) {
    let h = new Float64Array(model.latentDim + model.numClasses);
    for (let i = 0; i < model.latentDim; i++) h[i] = code[i];
    if (model.numClasses) h[model.latentDim + label] = 1;
    model.layers.forEach((layer, k) => {
      const out = new Float64Array(layer.rows);
      for (let r = 0; r < layer.rows; r++) {
        let sum = 0;
        const row = r * layer.cols;
        for (let c = 0; c < layer.cols; c++) sum += layer.weight[row + c] * h[c];
        const v = sum + layer.bias[r];
        out[r] = k < model.layers.length - 1 && v < 0 ? 0 : v;
      }
      h = out;
    });
    const image = new Float32Array(h.length);
    for (let i = 0; i < h.length; i++) image[i] = 1 / (1 + Math.exp(-h[i]));
    return image;
  }

  function draw(canvas, image, shape) {
    const [, height, width] = shape;
    const small = document.createElement("canvas");
    small.width = width;
    small.height = height;
    const ctx = small.getContext("2d");
    const pixels = ctx.createImageData(width, height);
    for (let i = 0; i < width * height; i++) {
      const grey = Math.round(255 * Math.min(1, Math.max(0, image[i])));  // the first channel
      pixels.data.set([grey, grey, grey, 255], 4 * i);
    }
    ctx.putImageData(pixels, 0, 0);
    const big = canvas.getContext("2d");
    big.imageSmoothingEnabled = false;  // show the pixels, as the book's figures do
    big.drawImage(small, 0, 0, canvas.width, canvas.height);
  }

  function mount(root) {
    try {
      const data = JSON.parse(root.querySelector("script.vaelib-explorer-data").textContent);
      const model = {
        latentDim: data.latent_dim, numClasses: data.num_classes, layers: loadLayers(data.layers),
      };
      const state = { code: data.z0.slice(), label: data.label };
      const canvas = root.querySelector("canvas.vaelib-explorer-canvas");
      const sliders = Array.from(root.querySelectorAll("input[type=range]"));
      const buttons = Array.from(root.querySelectorAll(".vaelib-explorer-labels button"));
      const map = root.querySelector(".vaelib-explorer-map");
      const [lo, hi] = data.range;

      function render() {
        state.image = decode(model, state.code, state.label);
        draw(canvas, state.image, data.image_shape);
        sliders.forEach((s) => {
          s.value = state.code[+s.dataset.dim];
          s.nextElementSibling.value = state.code[+s.dataset.dim].toFixed(2);
        });
        buttons.forEach((b) => b.setAttribute("aria-pressed", String(+b.dataset.label === state.label)));
        if (map) {
          const [left, top, right, bottom] = data.plane_box;
          const fx = (state.code[+sliders[0].dataset.dim] - lo) / (hi - lo);
          const fy = (state.code[+sliders[1].dataset.dim] - lo) / (hi - lo);
          const marker = map.querySelector(".vaelib-explorer-marker");
          marker.style.left = `${100 * (left + fx * (right - left))}%`;
          marker.style.top = `${100 * (bottom - fy * (bottom - top))}%`;
        }
        root.dispatchEvent(new CustomEvent("vaelib-explorer-drawn"));
      }

      sliders.forEach((s) => s.addEventListener("input", () => {
        state.code[+s.dataset.dim] = parseFloat(s.value);
        render();
      }));
      buttons.forEach((b) => b.addEventListener("click", () => {
        state.label = +b.dataset.label;
        render();
      }));
      root.querySelector(".vaelib-explorer-reset").addEventListener("click", () => {
        state.code = data.z0.slice();
        state.label = data.label;
        render();
      });
      if (map) {
        map.addEventListener("click", (event) => {
          const [left, top, right, bottom] = data.plane_box;
          const box = map.getBoundingClientRect();
          const fx = ((event.clientX - box.left) / box.width - left) / (right - left);
          const fy = (bottom - (event.clientY - box.top) / box.height) / (bottom - top);
          const clamp = (f) => Math.min(hi, Math.max(lo, lo + f * (hi - lo)));
          state.code[+sliders[0].dataset.dim] = clamp(fx);
          state.code[+sliders[1].dataset.dim] = clamp(fy);
          render();
        });
      }
      // For the browser tests and the curious: decode any code from the console.
      root.vaelib = {
        decode: (code, label) => decode(model, code, label === undefined ? state.label : label),
        reference: float32(data.reference), state, render,
      };
      render();
      root.dataset.ready = "1";
    } catch (error) {
      root.dataset.ready = "failed";
      const note = document.createElement("p");
      note.className = "vaelib-explorer-error";
      note.textContent = `This explorer could not start (${error}); the figure below shows the same content.`;
      root.prepend(note);
      console.error("vaelib explorer:", error);
    }
  }

  window.vaelibExplorer = { mount, decode };
})();
